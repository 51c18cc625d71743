from tuidesk.cli import main

main()
