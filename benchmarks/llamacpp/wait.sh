#!/bin/bash
# One `run` call: start the pipeline if this host has not, wait up to $1 seconds (or until done),
# then copy what there is to $OUT.
G=$(cd "$(dirname "$0")" && pwd)
W=/tmp/w
if [ ! -f $W/started ]; then
  mkdir -p $W && touch $W/started
  setsid nohup bash $G/${PIPELINE:-pipeline.sh} > $W/pipeline.log 2>&1 < /dev/null &
fi
end=$(( $(date +%s) + ${1:-500} ))
while [ $(date +%s) -lt $end ] && [ ! -f $W/done ]; do sleep 5; done
cat $W/stage; df -h /tmp | tail -1; tail -3 $W/build.log 2>/dev/null; tail -5 $W/bench.log 2>/dev/null
cp $W/results.jsonl $W/gguf_types.json $W/stage $OUT/ 2>/dev/null
tar czf $OUT/logs.tgz -C $W logs qlogs pipeline.log cmake.log build.log dump_types.err 2>/dev/null
ls -la $OUT
