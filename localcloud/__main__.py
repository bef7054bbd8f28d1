from localcloud.main import main

main()
