from racesense.cli import main

raise SystemExit(main())
