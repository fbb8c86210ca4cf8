from scraper.cli import main

raise SystemExit(main())
