from visdomkit.cli import main

raise SystemExit(main())
