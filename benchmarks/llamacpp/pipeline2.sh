#!/bin/bash
# Round 2 on the GPU host (held-out cases, cases.py ROUND2), started once with setsid by wait.sh:
# build llama.cpp (CUDA, sm_90) while writing zero-weight Q8_0 GGUFs of R1-Distill-Qwen-14B and
# V2-Lite; quantize them to Q4_K_M with llama-quantize; bench; then write R1-Distill-Qwen-32B
# directly in its Q4_K_M recipe types (gguf_recipe; 19 GB, no quantize) and bench its two cases.
G=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$G/../.." && pwd)
W=/tmp/w
mkdir -p $W/gguf $W/logs $W/qlogs
st() { echo "$(date +%T) $*" >> $W/stage; }
st start
tar xzf $REPO/.gpu/llamacpp-src.tgz -C $W
LC=$W/llama.cpp
( cd $LC && cmake -B build -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF \
    -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DCMAKE_BUILD_TYPE=Release > $W/cmake.log 2>&1 \
  && cmake --build build -j16 --target llama-server llama-quantize > $W/build.log 2>&1; echo $? > $W/build.rc ) &
export PYTHONPATH=$LC/gguf-py:$REPO
D=$W/gguf
Q14=deepseek-r1-distill-qwen-14b; V2=deepseek-v2-lite; Q32=deepseek-r1-distill-qwen-32b
for m in $Q14 $V2; do python3 $G/make_gguf.py $m $D/$m.Q8_0.gguf; st "wrote $m Q8_0"; done
while [ ! -f $W/build.rc ]; do sleep 2; done
st "build rc=$(cat $W/build.rc)"
BIN=$LC/build/bin
for m in $Q14 $V2; do
  $BIN/llama-quantize --allow-requantize $D/$m.Q8_0.gguf $D/$m.Q4_K_M.gguf Q4_K_M 16 > $W/qlogs/$m.log 2>&1
  st "quantized $m rc=$?"; rm -f $D/$m.Q8_0.gguf
done
python3 $G/cases.py $D round2 > $W/cases.json
python3 $G/bench.py --server $BIN/llama-server --cases $W/cases.json --out $W/results.jsonl --logdir $W/logs > $W/bench.log 2>&1
st "bench done"
rm -f $D/$Q14.* $D/$V2.*
python3 $G/make_gguf.py $Q32 $D/$Q32.Q4_K_M.gguf --type Q4_K_M; st "wrote $Q32 Q4_K_M"
python3 $G/bench.py --server $BIN/llama-server --cases $W/cases.json --out $W/results.jsonl --logdir $W/logs --only q32-c16k-ngl40-ho2,q32-c32k-ho2 >> $W/bench.log 2>&1
st "all done"
touch $W/done
