from deepseek_probe.cli import main

main()
