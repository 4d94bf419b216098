#!/bin/bash
# The whole GPU-host run, started once with setsid so that it outlives each `run` call:
#   setsid nohup bash pipeline.sh > /tmp/w/pipeline.log 2>&1 < /dev/null &
# Stages: build llama.cpp (CUDA, sm_90) while writing zero-weight Q8_0 GGUFs; quantize with
# llama-quantize (the real per-tensor recipe); dump tensor types; bench every case; then the 32B.
G=$(cd "$(dirname "$0")" && pwd)
W=/tmp/w
mkdir -p $W/gguf $W/logs $W/qlogs
st() { echo "$(date +%T) $*" >> $W/stage; }
st start
tar xzf $G/llamacpp-src.tgz -C $W
LC=$W/llama.cpp
( cd $LC && cmake -B build -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF \
    -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DCMAKE_BUILD_TYPE=Release > $W/cmake.log 2>&1 \
  && cmake --build build -j16 --target llama-server llama-quantize > $W/build.log 2>&1; echo $? > $W/build.rc ) &
export PYTHONPATH=$LC/gguf-py:$G/pkg
D=$W/gguf
Q7=deepseek-r1-distill-qwen-7b; L8=deepseek-r1-distill-llama-8b; D7=deepseek-llm-7b; V2=deepseek-v2-lite
Q32=deepseek-r1-distill-qwen-32b
for m in $Q7 $L8 $D7; do python3 $G/make_gguf.py $m $D/$m.Q8_0.gguf; st "wrote $m Q8_0"; done
while [ ! -f $W/build.rc ]; do sleep 2; done
st "build rc=$(cat $W/build.rc)"
BIN=$LC/build/bin
quant() {  # model ftype
  $BIN/llama-quantize --allow-requantize $D/$1.Q8_0.gguf $D/$1.$2.gguf $2 16 > $W/qlogs/$1.$2.log 2>&1
  st "quantized $1 $2 rc=$?"
}
quant $Q7 Q4_K_M; quant $Q7 Q4_0; rm -f $D/$Q7.Q8_0.gguf
quant $L8 Q4_K_M; rm -f $D/$L8.Q8_0.gguf
python3 $G/make_gguf.py $V2 $D/$V2.Q8_0.gguf; st "wrote $V2 Q8_0"
quant $D7 Q4_K_M
quant $V2 Q4_K_M; rm -f $D/$V2.Q8_0.gguf
python3 $G/dump_types.py $D/*.gguf > $W/gguf_types.json 2> $W/dump_types.err; st "dumped types"
python3 $G/cases.py $D > $W/cases.json
python3 $G/bench.py --server $BIN/llama-server --cases $W/cases.json --out $W/results.jsonl --logdir $W/logs > $W/bench.log 2>&1
st "bench done"
rm -f $D/$Q7.* $D/$L8.* $D/$D7.*
python3 $G/make_gguf.py $Q32 $D/$Q32.Q4_K_M.gguf --type Q4_K_M; st "wrote $Q32 Q4_K_M (recipe types, no quantize)"
python3 $G/bench.py --server $BIN/llama-server --cases $W/cases.json --out $W/results.jsonl --logdir $W/logs >> $W/bench.log 2>&1
st "all done"
touch $W/done
