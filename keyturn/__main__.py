from keyturn.cli import main

raise SystemExit(main())
