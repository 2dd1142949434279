"""The domain: errors, options, results, and the retry policy every loop shares."""
