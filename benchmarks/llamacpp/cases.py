#!/usr/bin/env python3
"""The measured cases: model, file type, llama-server flags. Writes cases.json for bench.py.

usage: cases.py GGUF_DIR [round2] > cases.json   (GGUF files are GGUF_DIR/<model>.<ftype>.gguf)
Cases whose id ends in '-ho' are held out: the tests replay them but no constant is fitted to them.
ROUND2 ('-ho2') was measured after the compute-buffer mechanism was re-derived from the first
round's buffer lines, on shapes and flags that round never had (pipeline2.sh).
"""
import json
import sys

Q7, L8, D7, V2, Q32 = ("deepseek-r1-distill-qwen-7b", "deepseek-r1-distill-llama-8b", "deepseek-llm-7b",
                       "deepseek-v2-lite", "deepseek-r1-distill-qwen-32b")
CASES = [
    # (id, model, ftype, args)
    ("q7-c4k", Q7, "Q4_K_M", ["-c", "4096"]),
    ("q7-c32k", Q7, "Q4_K_M", ["-c", "32768"]),
    ("q7-c128k", Q7, "Q4_K_M", ["-c", "131072"]),
    ("q7-default", Q7, "Q4_K_M", []),
    ("q7-c32k-faoff", Q7, "Q4_K_M", ["-c", "32768", "-fa", "off"]),
    ("q7-c32k-faon", Q7, "Q4_K_M", ["-c", "32768", "-fa", "on"]),
    ("q7-c32k-kvq8", Q7, "Q4_K_M", ["-c", "32768", "-ctk", "q8_0", "-ctv", "q8_0"]),
    ("q7-c32k-kvq4", Q7, "Q4_K_M", ["-c", "32768", "-ctk", "q4_0", "-ctv", "q4_0"]),
    ("q7-c32k-np1", Q7, "Q4_K_M", ["-c", "32768", "-np", "1"]),
    ("q7-c32k-ub2048", Q7, "Q4_K_M", ["-c", "32768", "-ub", "2048"]),
    ("q7-c16k-ngl14", Q7, "Q4_K_M", ["-c", "16384", "-ngl", "14"]),
    ("q7-c8k-faoff-np1-ho", Q7, "Q4_K_M", ["-c", "8192", "-fa", "off", "-np", "1"]),
    ("q7-c65k-ngl20-ho", Q7, "Q4_K_M", ["-c", "65536", "-ngl", "20"]),
    ("q7q40-c16k", Q7, "Q4_0", ["-c", "16384"]),
    ("l8-c8k", L8, "Q4_K_M", ["-c", "8192"]),
    ("l8-c128k-ho", L8, "Q4_K_M", ["-c", "131072"]),
    ("l8-default-ho", L8, "Q4_K_M", []),
    ("l8-c32k-faoff-ho", L8, "Q4_K_M", ["-c", "32768", "-fa", "off"]),
    ("l8-c16k-ngl20-ho", L8, "Q4_K_M", ["-c", "16384", "-ngl", "20"]),
    ("l8-c65k-kvq8-ho", L8, "Q4_K_M", ["-c", "65536", "-ctk", "q8_0", "-ctv", "q8_0"]),
    ("d7-c4k", D7, "Q4_K_M", ["-c", "4096"]),
    ("d7-c2k-faoff", D7, "Q4_K_M", ["-c", "2048", "-fa", "off"]),
    ("d7-c4k-np1", D7, "Q4_K_M", ["-c", "4096", "-np", "1"]),
    ("d7-c4k-kvq4-ho", D7, "Q4_K_M", ["-c", "4096", "-ctk", "q4_0", "-ctv", "q4_0"]),
    ("d7-default", D7, "Q4_K_M", []),
    ("d7q8-c4k", D7, "Q8_0", ["-c", "4096"]),
    ("d7q8-c4k-ngl16-ho", D7, "Q8_0", ["-c", "4096", "-ngl", "16"]),
    ("v2-c4k", V2, "Q4_K_M", ["-c", "4096"]),
    ("v2-c32k", V2, "Q4_K_M", ["-c", "32768"]),
    ("v2-c160k", V2, "Q4_K_M", ["-c", "163840"]),
    ("v2-default", V2, "Q4_K_M", []),
    ("v2-c32k-faoff", V2, "Q4_K_M", ["-c", "32768", "-fa", "off"]),
    ("v2-c32k-ctkq8", V2, "Q4_K_M", ["-c", "32768", "-ctk", "q8_0"]),
    ("v2-c32k-kvq8", V2, "Q4_K_M", ["-c", "32768", "-ctk", "q8_0", "-ctv", "q8_0"]),
    ("v2-c32k-kvq8-faoff", V2, "Q4_K_M", ["-c", "32768", "-ctk", "q8_0", "-fa", "off"]),
    ("v2-c16k-ngl10", V2, "Q4_K_M", ["-c", "16384", "-ngl", "10"]),
    ("v2-c16k-cpumoe", V2, "Q4_K_M", ["-c", "16384", "--cpu-moe"]),
    ("v2-c16k-ncmoe10-ho", V2, "Q4_K_M", ["-c", "16384", "-ncmoe", "10"]),
    ("v2-c16k-ub2048", V2, "Q4_K_M", ["-c", "16384", "-ub", "2048"]),
    ("v2-c16k-np1-ho", V2, "Q4_K_M", ["-c", "16384", "-np", "1"]),
    ("q32-c16k-ngl40-ho", Q32, "Q4_K_M", ["-c", "16384", "-ngl", "40"]),
    ("q32-c32k", Q32, "Q4_K_M", ["-c", "32768"]),
]

Q14 = "deepseek-r1-distill-qwen-14b"
ROUND2 = [
    ("q14-c16k-ho2", Q14, "Q4_K_M", ["-c", "16384"]),
    ("q14-c32k-ngl30-ho2", Q14, "Q4_K_M", ["-c", "32768", "-ngl", "30"]),
    ("q14-c8k-faoff-ho2", Q14, "Q4_K_M", ["-c", "8192", "-fa", "off"]),
    ("q14-c32k-ub1024-ho2", Q14, "Q4_K_M", ["-c", "32768", "-ub", "1024"]),
    ("q14-c65k-kvq8-ho2", Q14, "Q4_K_M", ["-c", "65536", "-ctk", "q8_0", "-ctv", "q8_0"]),
    ("q14-c24k-ngl12-ub256-ho2", Q14, "Q4_K_M", ["-c", "24576", "-ngl", "12", "-ub", "256"]),
    ("v2-c65k-ngl20-ho2", V2, "Q4_K_M", ["-c", "65536", "-ngl", "20"]),
    ("v2-c32k-ncmoe20-ho2", V2, "Q4_K_M", ["-c", "32768", "-ncmoe", "20"]),
    ("v2-c8k-faoff-np1-ho2", V2, "Q4_K_M", ["-c", "8192", "-fa", "off", "-np", "1"]),
    ("q32-c16k-ngl40-ho2", Q32, "Q4_K_M", ["-c", "16384", "-ngl", "40"]),
    ("q32-c32k-ho2", Q32, "Q4_K_M", ["-c", "32768"]),
]

if __name__ == "__main__":
    d = sys.argv[1].rstrip("/")
    rows = ROUND2 if sys.argv[2:] == ["round2"] else CASES
    json.dump([{"id": i, "model": m, "ftype": f, "args": a, "gguf": f"{d}/{m}.{f}.gguf"}
               for i, m, f, a in rows], sys.stdout, indent=1)
