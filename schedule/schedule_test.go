package schedule_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/schedule"
)

// slowExporter takes a while per export and counts how many run at once.
type slowExporter struct {
	delay         time.Duration
	running, most atomic.Int32
	exports       atomic.Int32
	fail          atomic.Bool
}

func (*slowExporter) Name() string { return "slow" }
func (*slowExporter) Kind() string { return "slow" }

func (e *slowExporter) Export(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
	n := e.running.Add(1)
	defer e.running.Add(-1)
	for {
		m := e.most.Load()
		if n <= m || e.most.CompareAndSwap(m, n) {
			break
		}
	}
	e.exports.Add(1)
	select {
	case <-time.After(e.delay):
	case <-ctx.Done():
		return ngbak.Info{}, ctx.Err()
	}
	if e.fail.Load() {
		return ngbak.Info{}, errors.New("store down")
	}
	return ngbak.Info{Format: "slow/1"}, nil
}

func (*slowExporter) Restore(context.Context, *ngbak.Reader) error { return nil }

func manager(t *testing.T, e ngbak.Exporter) *ngbak.Manager {
	m, err := ngbak.New(ngbak.Options{Storage: ngbak.Dir(t.TempDir()), TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	m.Register(e)
	return m
}

// Backups slower than the interval never overlap, the retention policy
// keeps the newest two, and cancelling stops Run with no backup half made.
func TestNoOverlapRetentionCancel(t *testing.T) {
	exp := &slowExporter{delay: 120 * time.Millisecond}
	m := manager(t, exp)
	s, err := schedule.New(m, schedule.Options{Every: 20 * time.Millisecond, Retention: &ngbak.RetentionPolicy{Last: 2}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for exp.exports.Load() < 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	if n := exp.exports.Load(); n < 5 {
		t.Fatalf("%d backups in 10 s", n)
	}
	if most := exp.most.Load(); most != 1 {
		t.Fatalf("%d backups ran at once", most)
	}
	list, err := m.List(context.Background())
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %d backups, %v; want the 2 the policy keeps", len(list), err)
	}
	if exp.running.Load() != 0 {
		t.Fatal("an export is still running after Run returned")
	}
}

func TestFailuresReported(t *testing.T) {
	exp := &slowExporter{delay: time.Millisecond}
	exp.fail.Store(true)
	var mu sync.Mutex
	var errs []error
	s, _ := schedule.New(manager(t, exp), schedule.Options{Every: 10 * time.Millisecond, OnError: func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	s.Run(ctx)
	mu.Lock()
	defer mu.Unlock()
	if len(errs) < 2 {
		t.Fatalf("%d failures reported", len(errs))
	}
	for _, err := range errs {
		if err == nil || err.Error() == "" || !strings.Contains(err.Error(), "store down") {
			t.Fatalf("reported %v", err)
		}
	}
}

func TestOptions(t *testing.T) {
	m := manager(t, &slowExporter{})
	for _, o := range []schedule.Options{{}, {Every: time.Second, Cron: "@daily"}, {Cron: "61 * * * *"}, {Cron: "nonsense"}} {
		if _, err := schedule.New(m, o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
	for _, o := range []schedule.Options{{Cron: "15 3 * * *"}, {Cron: "@hourly"}, {Cron: "CRON_TZ=Europe/Paris 0 2 * * 1-5"}, {Every: time.Minute}} {
		if _, err := schedule.New(m, o); err != nil {
			t.Errorf("New(%+v): %v", o, err)
		}
	}
}
