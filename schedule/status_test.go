package schedule_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ngbak/ngbak/schedule"
)

// Status follows the runs: a success with its id, then a failure with its
// error, the success kept; LastFailure says the same.
func TestStatus(t *testing.T) {
	exp := &slowExporter{delay: time.Millisecond}
	m := manager(t, exp)
	s, err := schedule.New(m, schedule.Options{Every: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st != (schedule.Status{}) {
		t.Fatalf("status before any run: %+v", st)
	}
	if at, err := s.LastFailure(); !at.IsZero() || err != nil {
		t.Fatalf("LastFailure before any run: %v, %v", at, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	waitFor(t, func() bool { return s.Status().LastSuccessID != "" })
	st := s.Status()
	list, _ := m.List(context.Background())
	if len(list) == 0 || !st.LastFailure.IsZero() || time.Since(st.LastSuccess) > time.Minute {
		t.Fatalf("after a success: %+v, %d backups", st, len(list))
	}
	found := false
	for _, b := range list {
		found = found || b.Manifest.ID == st.LastSuccessID
	}
	if !found {
		t.Fatalf("LastSuccessID %s is not a stored backup", st.LastSuccessID)
	}
	exp.fail.Store(true)
	waitFor(t, func() bool { return !s.Status().LastFailure.IsZero() })
	cancel()
	<-done
	st = s.Status()
	if !strings.Contains(st.LastError, "store down") || st.LastSuccess.IsZero() || st.LastFailure.Before(st.LastSuccess) {
		t.Fatalf("after a failure: %+v", st)
	}
	if at, err := s.LastFailure(); !at.Equal(st.LastFailure) || err == nil || err.Error() != st.LastError {
		t.Fatalf("LastFailure: %v, %v", at, err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
