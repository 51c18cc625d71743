from tuidesk.entry import main

main()
