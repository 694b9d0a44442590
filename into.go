package ngbak

import (
	"context"
	"fmt"
	"slices"
)

// A Converter is an Exporter that can also restore a backend of another
// kind, in its own store's schema: RestoreOptions.Into maps the backend onto
// it. A converter is still an exporter of its own kind for everything else:
// the safety backup, the rollback and every other restore use its Export
// and Restore.
type Converter interface {
	Exporter
	// CheckConvert tells, before anything changes, that b (of another
	// kind) cannot be converted exactly: a file or field the store has no
	// place for is an error here, never a silent loss.
	CheckConvert(ctx context.Context, b *Backend) error
	// Convert replaces the store's state with what r, a backend of another
	// kind, holds, as Restore does with a backend of its own kind.
	Convert(ctx context.Context, r *Reader) error
}

// into is a registered exporter that restores a backend of another name,
// or of another kind, for RestoreOptions.Into. It keeps its own name, so
// the safety backup and the rollback are of the store it replaces.
type into struct {
	Exporter
	from    string // the backup's backend
	convert bool   // the backend is of another kind
}

func (e *into) Restore(ctx context.Context, r *Reader) error {
	if e.convert {
		return e.Exporter.(Converter).Convert(ctx, r)
	}
	return e.Exporter.Restore(ctx, r)
}

func (e *into) CheckRestore(ctx context.Context, b *Backend) error {
	if e.convert {
		return e.Exporter.(Converter).CheckConvert(ctx, b)
	}
	if rc, ok := e.Exporter.(RestoreChecker); ok {
		return rc.CheckRestore(ctx, b)
	}
	return nil
}

// backendOf is the backup's backend that e restores.
func backendOf(e Exporter) string {
	if i, ok := e.(*into); ok {
		return i.from
	}
	return e.Name()
}

// unwrap returns the registered exporters themselves, for a rollback from
// the safety backup, whose backends have their names and kinds.
func unwrap(exps []Exporter) []Exporter {
	out := make([]Exporter, len(exps))
	for i, e := range exps {
		if w, ok := e.(*into); ok {
			e = w.Exporter
		}
		out[i] = e
	}
	return out
}

// planInto is plan for a restore with RestoreOptions.Into: only the
// backends named in Into and Backends are restored, each by the exporter
// Into names or by its own, and no store is replaced twice.
func (m *Manager) planInto(man *Manifest, opts *RestoreOptions) ([]Exporter, error) {
	if len(opts.Into) == 0 {
		return m.plan(man, opts.Backends)
	}
	want := slices.Clone(opts.Backends)
	for from := range opts.Into {
		if _, ok := man.Backend(from); !ok {
			return nil, fmt.Errorf("%w: backup has no backend %q (RestoreOptions.Into)", ErrNotFound, from)
		}
		if !slices.Contains(want, from) {
			want = append(want, from)
		}
	}
	for _, name := range want {
		if _, ok := man.Backend(name); !ok {
			return nil, fmt.Errorf("%w: backup has no backend %q", ErrNotFound, name)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var plan []Exporter
	by := map[string]string{} // target exporter -> the backend it restores
	for _, b := range man.Backends {
		if !slices.Contains(want, b.Name) {
			continue
		}
		target, mapped := opts.Into[b.Name]
		if !mapped {
			target = b.Name
		}
		e := m.exporter(target)
		if e == nil {
			return nil, fmt.Errorf("%w: backend %q (%s) is to be restored into %q, which is not a registered exporter", ErrIncompatible, b.Name, b.Kind, target)
		}
		if prev, ok := by[target]; ok {
			return nil, fmt.Errorf("%w: backends %q and %q would both replace %q", ErrIncompatible, prev, b.Name, target)
		}
		by[target] = b.Name
		_, canConvert := e.(Converter)
		switch {
		case e.Kind() == b.Kind && target == b.Name:
		case e.Kind() == b.Kind:
			e = &into{Exporter: e, from: b.Name}
		case canConvert:
			e = &into{Exporter: e, from: b.Name, convert: true}
		default:
			return nil, fmt.Errorf("%w: backend %q is of kind %q, exporter %q is %q and converts no other kind", ErrIncompatible, b.Name, b.Kind, target, e.Kind())
		}
		plan = append(plan, e)
	}
	sortByRegistration(m.exps, plan)
	return plan, nil
}
