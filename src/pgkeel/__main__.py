from pgkeel.cli import main

main()
