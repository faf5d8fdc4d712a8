from shieldwall.cli.main import main

raise SystemExit(main())
