from sneakerstudio.app import main

raise SystemExit(main())
