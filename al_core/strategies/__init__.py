"""Query strategies: measures (one score per image), selectors (pick k), cold-start
features, and the name -> strategy registry that the UI and the CLI share."""
