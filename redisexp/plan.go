package redisexp

import (
	"context"
	"fmt"
	"slices"

	"github.com/ngbak/ngbak"
	"github.com/redis/go-redis/v9"
)

// PlanRestore implements ngbak.Planner: the keys of each namespace in scope
// now (read with SCAN, as a backup reads them, so a key the server moves
// during the scan may count twice), and the namespaces a restore would
// delete because the backup does not hold them, which happens only when
// Options.Namespaces is nil.
func (e *Exporter) PlanRestore(ctx context.Context, b *ngbak.Backend) (ngbak.ScopePlan, error) {
	var p ngbak.ScopePlan
	held, err := e.backupNamespaces(b)
	if err != nil {
		return p, err
	}
	scan, err := e.scanner(ctx)
	if err != nil {
		return p, err
	}
	counts := map[string]int64{}
	if err := scan(func(ns string, ids []string) error {
		counts[ns] += int64(len(ids))
		return nil
	}); err != nil {
		return p, err
	}
	p.Current = map[string]int64{}
	var total int64
	var nss []string
	for ns, n := range counts {
		p.Current["keys."+ns] = n
		total += n
		nss = append(nss, ns)
	}
	p.Current["keys"] = total
	p.Current["namespaces"] = int64(len(counts))
	slices.Sort(nss)
	for _, ns := range nss {
		if e.opts.Namespaces == nil && !slices.Contains(held, ns) && counts[ns] > 0 {
			p.Deletes = append(p.Deletes, fmt.Sprintf("namespace %s (%d keys)", ns, counts[ns]))
		}
	}
	return p, nil
}

// PlanRestore implements ngbak.Planner: the keys matching the pattern now.
// A restore deletes them all and writes the backup's, so nothing outside
// the backup is named: the pattern is the scope.
func (e *RawExporter) PlanRestore(ctx context.Context, b *ngbak.Backend) (ngbak.ScopePlan, error) {
	var n int64
	err := scanKeys(ctx, e.client, e.opts.Pattern, func(_ redis.Cmdable, keys []string) error {
		n += int64(len(keys))
		return nil
	})
	if err != nil {
		return ngbak.ScopePlan{}, err
	}
	return ngbak.ScopePlan{Current: map[string]int64{"keys": n}}, nil
}
