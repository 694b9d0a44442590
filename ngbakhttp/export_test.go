package ngbakhttp

// RetryPause lets the tests shorten the pause between tries of a job's
// final state.
var RetryPause = &retryPause
