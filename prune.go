package ngbak

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// RetentionPolicy says which backups to keep, in the style of restic's
// forget: a backup is kept if any rule keeps it, and deleted otherwise.
// Times are compared in UTC.
type RetentionPolicy struct {
	// Last keeps the newest Last backups.
	Last int
	// Hourly, Daily, Weekly (ISO weeks), Monthly and Yearly keep the newest
	// backup of each of the most recent that many hours, days ... that have
	// a backup.
	Hourly, Daily, Weekly, Monthly, Yearly int
	// Within keeps every backup made within this duration of the newest one
	// (not of now: a machine whose backups stopped keeps what it had), or
	// of now if the newest is dated later than now: a backup from a clock
	// that runs ahead must not make every real one look old.
	Within time.Duration
	// Safety keeps the newest Safety safety backups (those Restore takes,
	// labelled LabelSafetyFor); 0 or less means 1. The rules above apply to
	// the other backups only: a safety backup is the undo of a restore, not
	// a point in the history, and a policy that keeps one backup a day must
	// not remove the only undo of the last restore because a scheduled
	// backup came after it the same day.
	Safety int
}

func (p RetentionPolicy) empty() bool {
	return p.Last <= 0 && p.Hourly <= 0 && p.Daily <= 0 && p.Weekly <= 0 && p.Monthly <= 0 && p.Yearly <= 0 && p.Within <= 0
}

// Decision is what a policy decided for one backup, and why.
type Decision struct {
	Backup Backup
	Keep   bool
	// Reasons names the rules that keep the backup ("last", "daily" ...).
	Reasons []string
}

// Apply decides, for backups in any order, which to keep. It returns them
// newest first. An empty policy is an error: it would delete everything.
// Besides what the rules keep, the newest backup not dated after now is
// always kept (reason "newest"), whatever backups dated in the future hold
// the rules' places.
func (p RetentionPolicy) Apply(backups []Backup) ([]Decision, error) {
	if p.empty() {
		return nil, errors.New("ngbak: empty retention policy: it would delete every backup")
	}
	all := make([]Decision, len(backups))
	for i, b := range backups {
		all[i] = Decision{Backup: b}
	}
	// Newest first; backups of one millisecond by id, as List orders them,
	// so that the decisions do not depend on the order given.
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i].Backup.Manifest, all[j].Backup.Manifest
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.After(b.CreatedAt)
		}
		return a.ID > b.ID
	})
	var ds []*Decision
	safety := 0
	for i := range all {
		if _, ok := all[i].Backup.Manifest.Labels[LabelSafetyFor]; !ok {
			ds = append(ds, &all[i])
			continue
		}
		if safety < max(p.Safety, 1) {
			safety++
			all[i].Keep, all[i].Reasons = true, []string{"safety"}
		}
	}
	keep := func(i int, reason string) {
		ds[i].Keep = true
		ds[i].Reasons = append(ds[i].Reasons, reason)
	}
	var since time.Time
	now := time.Now()
	if len(ds) > 0 {
		ref := ds[0].Backup.Manifest.CreatedAt
		if ref.After(now) {
			ref = now
		}
		since = ref.Add(-p.Within)
	}
	// Backups dated in the future (a clock running ahead) take the places
	// of the newest in every rule; whatever they are, the newest backup
	// that is not is kept, so that they can never leave no real one.
	for i := range ds {
		if !ds[i].Backup.Manifest.CreatedAt.After(now) {
			if i > 0 {
				keep(i, "newest")
			}
			break
		}
	}
	for i := range ds {
		if i < p.Last {
			keep(i, "last")
		}
		if p.Within > 0 && !ds[i].Backup.Manifest.CreatedAt.Before(since) {
			keep(i, "within")
		}
	}
	for _, rule := range []struct {
		name   string
		n      int
		bucket func(time.Time) string
	}{
		{"hourly", p.Hourly, func(t time.Time) string { return t.Format("2006-01-02T15") }},
		{"daily", p.Daily, func(t time.Time) string { return t.Format("2006-01-02") }},
		{"weekly", p.Weekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-W%02d", y, w) }},
		{"monthly", p.Monthly, func(t time.Time) string { return t.Format("2006-01") }},
		{"yearly", p.Yearly, func(t time.Time) string { return t.Format("2006") }},
	} {
		seen := map[string]bool{}
		for i := range ds {
			if len(seen) >= rule.n {
				break
			}
			// Newest first: the first backup of a bucket is its newest.
			if b := rule.bucket(ds[i].Backup.Manifest.CreatedAt.UTC()); !seen[b] {
				seen[b] = true
				keep(i, rule.name)
			}
		}
	}
	return all, nil
}

// Prune applies policy to the stored backups and, unless dryRun, deletes
// those it does not keep. It returns every decision, newest first. A backup
// in use (being restored or verified in this process, or the safety backup
// of a restore that is running or was interrupted, in any process) is kept
// with the reason "in use".
func (m *Manager) Prune(ctx context.Context, policy RetentionPolicy, dryRun bool) ([]Decision, error) {
	backups, err := m.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("ngbak: prune: %w", err) // an unreadable sidecar: decide nothing on a partial list
	}
	ds, err := policy.Apply(backups)
	if err != nil {
		return nil, err
	}
	held, err := m.held(ctx)
	if err != nil {
		return nil, fmt.Errorf("ngbak: prune: %w", err)
	}
	for i := range ds {
		if held[ds[i].Backup.Manifest.ID] {
			ds[i].Keep = true
			ds[i].Reasons = append(ds[i].Reasons, "in use")
		}
	}
	if dryRun {
		return ds, nil
	}
	// On the deduplicating layout the chunks of every backup deleted are
	// swept once, at the end.
	store := m.store
	var batch *sweepBatch
	if d, ok := m.store.(*dedupStorage); ok {
		batch = d.newSweepBatch()
		store = batch
	}
	var errs []error
	for _, d := range ds {
		if d.Keep {
			continue
		}
		if err := m.delete(ctx, d.Backup.Manifest.ID, store); err != nil {
			errs = append(errs, err)
			continue
		}
		m.log.Info("pruned backup", "id", d.Backup.Manifest.ID)
	}
	if batch != nil {
		if err := batch.sweep(ctx); err != nil {
			errs = append(errs, fmt.Errorf("ngbak: prune: %w", err))
		}
	}
	return ds, errors.Join(errs...)
}
