from s2e_lib.cli import run_main

run_main()
