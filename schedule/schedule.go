// Package schedule runs backups on an interval or a cron expression,
// applies a retention policy after each one that succeeds, and reports
// failures, without ever running two backups at once.
//
//	s, err := schedule.New(m, schedule.Options{Cron: "15 3 * * *", Retention: &ngbak.RetentionPolicy{Daily: 14}})
//	err = s.Run(ctx) // until ctx is done
//
// Status tells the last success and the last failure, for a health check:
// ngbakhttp.Options{LastFailure: s.LastFailure} puts the failure in GET
// /api/health.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ngbak/ngbak"
	"github.com/robfig/cron/v3"
)

// Options configure a Scheduler. Exactly one of Every and Cron is set.
type Options struct {
	// Every runs a backup this long after the previous one ended.
	Every time.Duration
	// Cron runs a backup at the times of a standard five-field cron
	// expression ("15 3 * * *"), or a descriptor such as "@daily"; times are
	// UTC unless it starts with CRON_TZ=.
	Cron string
	// Retention, if set, is applied (Manager.Prune) after each backup that
	// succeeds.
	Retention *ngbak.RetentionPolicy
	// OnError, if set, hears of every failed backup or prune; failures are
	// logged too. The scheduler goes on.
	OnError func(error)
	// Logger receives what the scheduler does; nil discards it.
	Logger *slog.Logger
	// CreateOptions are passed to every Create.
	CreateOptions *ngbak.CreateOptions
}

// Scheduler runs backups on a schedule.
type Scheduler struct {
	m     *ngbak.Manager
	opts  Options
	sched cron.Schedule
	log   *slog.Logger
	now   func() time.Time

	status status
}

// New checks opts and returns a Scheduler for m.
func New(m *ngbak.Manager, opts Options) (*Scheduler, error) {
	s := &Scheduler{m: m, opts: opts, log: opts.Logger, now: time.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case (opts.Every > 0) == (opts.Cron != ""):
		return nil, errors.New("schedule: set exactly one of Every and Cron")
	case opts.Cron != "":
		sched, err := cron.ParseStandard(opts.Cron)
		if err != nil {
			return nil, fmt.Errorf("schedule: cron expression %q: %w", opts.Cron, err)
		}
		s.sched = sched
	default:
		s.sched = every(opts.Every) // cron.Every rounds up to whole seconds
	}
	return s, nil
}

// Run runs backups until ctx is done, then returns ctx's error. A backup
// in progress is cancelled with ctx, and Run returns once it has stopped.
// Runs never overlap: a backup that outlasts its interval makes the
// scheduler skip the times it missed, not queue them. A backup due while
// a restore runs, or while an interrupted one awaits Manager.RollBack, is
// refused by the Manager (ngbak.ErrBusy: it would hold a half-restored
// state) and reported to OnError; the next one runs at its time.
func (s *Scheduler) Run(ctx context.Context) error {
	for {
		next := s.sched.Next(s.now().UTC())
		timer := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
		s.runOnce(ctx)
	}
}

func (s *Scheduler) runOnce(ctx context.Context) {
	man, err := s.m.Create(ctx, s.opts.CreateOptions)
	if err != nil {
		if ctx.Err() == nil {
			s.fail(err)
		}
		return
	}
	s.log.Info("scheduled backup created", "id", man.ID)
	s.recordSuccess(man.ID)
	if s.opts.Retention == nil {
		return
	}
	if _, err := s.m.Prune(ctx, *s.opts.Retention, false); err != nil && ctx.Err() == nil {
		s.fail(fmt.Errorf("schedule: retention after %s: %w", man.ID, err))
	}
}

// every is an interval counted from the end of the previous run.
type every time.Duration

func (e every) Next(t time.Time) time.Time { return t.Add(time.Duration(e)) }

func (s *Scheduler) fail(err error) {
	s.log.Error("scheduled backup failed", "err", err)
	s.recordFailure(err)
	if s.opts.OnError != nil {
		s.opts.OnError(err)
	}
}
