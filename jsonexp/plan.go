package jsonexp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ngbak/ngbak"
)

// PlanRestore implements ngbak.Planner: the matching files now, and those
// a restore would remove because the backup does not hold them.
func (e *Exporter) PlanRestore(ctx context.Context, b *ngbak.Backend) (ngbak.ScopePlan, error) {
	names, err := e.list()
	if errors.Is(err, fs.ErrNotExist) {
		names, err = nil, nil // a restore creates the folder
	}
	if err != nil {
		return ngbak.ScopePlan{}, err
	}
	held := map[string]bool{}
	for _, f := range b.Files {
		held[strings.TrimPrefix(f.Path, b.Name+"/")] = true
	}
	var p ngbak.ScopePlan
	for _, name := range names {
		fi, err := os.Stat(filepath.Join(e.dir, name))
		if err != nil {
			return p, fmt.Errorf("jsonexp: %w", err)
		}
		p.Bytes += fi.Size()
		if !held[name] {
			p.Deletes = append(p.Deletes, fmt.Sprintf("file %s (%d bytes)", name, fi.Size()))
		}
	}
	p.Current = map[string]int64{"files": int64(len(names)), "bytes": p.Bytes}
	return p, nil
}
