package schedule

import (
	"errors"
	"sync"
	"time"
)

// Status is what the scheduler's runs have come to since it was made: the
// last scheduled backup that succeeded and the last run that failed (a
// backup, or the retention after one). It is in memory, for a health
// check; the storage's own list (Manager.List) says which backups exist.
type Status struct {
	LastSuccess   time.Time // when the last scheduled backup completed; zero if none
	LastSuccessID string
	LastFailure   time.Time // when the last run failed; zero if none
	LastError     string    // what it failed with
}

// status is the Scheduler's record behind Status.
type status struct {
	mu sync.Mutex
	s  Status
}

// Status returns what the scheduler's runs have come to; it is safe to
// call while Run runs.
func (s *Scheduler) Status() Status {
	s.status.mu.Lock()
	defer s.status.mu.Unlock()
	return s.status.s
}

// LastFailure returns when the last run failed and its error, or the zero
// time and nil: what ngbakhttp.Options.LastFailure takes.
func (s *Scheduler) LastFailure() (time.Time, error) {
	st := s.Status()
	if st.LastFailure.IsZero() {
		return time.Time{}, nil
	}
	return st.LastFailure, errors.New(st.LastError)
}

func (s *Scheduler) recordSuccess(id string) {
	s.status.mu.Lock()
	defer s.status.mu.Unlock()
	s.status.s.LastSuccess, s.status.s.LastSuccessID = s.now().UTC(), id
}

func (s *Scheduler) recordFailure(err error) {
	s.status.mu.Lock()
	defer s.status.mu.Unlock()
	s.status.s.LastFailure, s.status.s.LastError = s.now().UTC(), err.Error()
}
