from datashark.cli.app import main

main()
