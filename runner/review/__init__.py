"""What a run leaves to read: results, HTML report, JUnit, summary, progress reporters."""
