package qdrantexp

import (
	"context"
	"fmt"
	"slices"

	"github.com/ngbak/ngbak"
)

// PlanRestore implements ngbak.Planner: the collections in scope now with
// their points, and those a restore would delete: with Options.Collections
// nil and a backup of every collection, every collection the backup does
// not hold; otherwise the listed ones the backup records as absent.
func (e *Exporter) PlanRestore(ctx context.Context, b *ngbak.Backend) (ngbak.ScopePlan, error) {
	var p ngbak.ScopePlan
	d, err := e.readDetails(b)
	if err != nil {
		return p, err
	}
	present, _, _, err := e.scope(ctx)
	if err != nil {
		return p, err
	}
	p.Current = map[string]int64{"collections": int64(len(present)), "points": 0}
	points := map[string]int64{}
	for _, c := range present {
		n, err := e.count(ctx, c)
		if err != nil {
			return p, fmt.Errorf("collection %q: %w", c, err)
		}
		points[c] = n
		p.Current["points"] += n
	}
	held := func(c string) bool {
		return slices.ContainsFunc(d.Collections, func(r collectionRecord) bool { return r.Name == c })
	}
	var doomed []string
	if e.opts.Collections == nil && d.All {
		for _, c := range present {
			if !held(c) {
				doomed = append(doomed, c)
			}
		}
	} else {
		for _, c := range d.Absent {
			if (e.opts.Collections == nil || slices.Contains(e.opts.Collections, c)) && slices.Contains(present, c) {
				doomed = append(doomed, c)
			}
		}
	}
	for _, c := range doomed {
		p.Deletes = append(p.Deletes, fmt.Sprintf("collection %s (%d points)", c, points[c]))
	}
	return p, nil
}
