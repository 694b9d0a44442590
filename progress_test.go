package ngbak_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"filippo.io/age"
	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/agecrypt"
)

// progressStep is how many bytes pass between two progress events of a
// backend.
const progressStep = 4 << 20

// recorder keeps the events of one backup id.
type recorder struct {
	mu     sync.Mutex
	id     string
	events []ngbak.Event
	// on, if set, sees each event kept, under mu.
	on func(ngbak.Event)
}

func (r *recorder) event(e ngbak.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.ID == r.id || e.Op == "import" {
		r.events = append(r.events, e)
		if r.on != nil {
			r.on(e)
		}
	}
}

// take returns the events kept since the last take. Bytes between a
// backend's start and its last event are rounded down to the step they
// passed: the reads that cross one are of any size.
func (r *recorder) take() []ngbak.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	last := map[[2]string]int{}
	for i, e := range out {
		last[[2]string{e.Phase, e.Backend}] = i
	}
	for i, e := range out {
		if e.Backend != "" && last[[2]string{e.Phase, e.Backend}] != i {
			out[i].Bytes = e.Bytes / progressStep * progressStep
		}
	}
	return out
}

// backendEvents are the events of a read of one backend of size bytes:
// the start, each progressStep, the end.
func backendEvents(op, id, phase, backend string, size, total int64) []ngbak.Event {
	ev := ngbak.Event{Op: op, ID: id, Phase: phase, Backend: backend, Total: total}
	out := []ngbak.Event{ev}
	for n := int64(progressStep); n < size; n += progressStep {
		ev.Bytes = n
		out = append(out, ev)
	}
	if size > 0 {
		ev.Bytes = size
		out = append(out, ev)
	}
	return out
}

// sizes are the payload bytes of each backend, from the files the
// manifest lists.
func sizes(man *ngbak.Manifest) map[string]int64 {
	out := map[string]int64{}
	for _, b := range man.Backends {
		for _, f := range b.Files {
			out[b.Name] += f.Size
		}
	}
	return out
}

// verifyEvents are a verify pass's events: every backend in archive
// order, each with its size known from the sidecar unless old.
func verifyEvents(op, id string, man *ngbak.Manifest, old bool) []ngbak.Event {
	var out []ngbak.Event
	size := sizes(man)
	for _, b := range man.Backends {
		total := size[b.Name]
		if old {
			total = 0
		}
		out = append(out, backendEvents(op, id, "verify", b.Name, size[b.Name], total)...)
	}
	return out
}

// byBackend groups events by backend, each group in order.
func byBackend(events []ngbak.Event) map[string][]ngbak.Event {
	out := map[string][]ngbak.Event{}
	for _, e := range events {
		out[e.Backend] = append(out[e.Backend], e)
	}
	return out
}

func TestVerifyAndRestoreProgressPerBackend(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := agecrypt.New([]age.Recipient{id.Recipient()}, []age.Identity{id})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		opts ngbak.Options
	}{
		{"sequential", ngbak.Options{Parallelism: 1}},
		{"parallel", ngbak.Options{Parallelism: 2}},
		{"dedup", ngbak.Options{Parallelism: 1, Dedup: &ngbak.DedupOptions{AverageChunkSize: 64 << 10}}},
		{"encrypted", ngbak.Options{Parallelism: 2, Encryption: enc}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			rec := &recorder{}
			c.opts.Progress = rec.event
			mem := newMem("mem", records(2000, 3, "doc"))
			env := newEnv(t, c.opts, mem, &streamExporter{size: 9 << 20})
			man := env.create(t)
			size := sizes(man)
			if got, want := map[string]int64{man.Backends[0].Name: man.Backends[0].Size, man.Backends[1].Name: man.Backends[1].Size}, size; !cmp.Equal(got, want) {
				t.Fatalf("Backend.Size %v, files hold %v", got, want)
			}
			rec.take()
			rec.id = man.ID

			if err := env.m.Verify(ctx, man.ID); err != nil {
				t.Fatal(err)
			}
			want := append(verifyEvents("verify", man.ID, man, false), ngbak.Event{Op: "verify", ID: man.ID, Phase: "done"})
			if diff := cmp.Diff(want, rec.take()); diff != "" {
				t.Errorf("verify events (-want +got):\n%s", diff)
			}

			// The first backend of a parallel restore is spooled: its
			// events count what its Restore reads, so while it waits
			// to start it has read nothing, though the pass has spooled
			// all of it once it reads the last backend.
			var early []ngbak.Event
			if c.opts.Parallelism > 1 {
				goOn := make(chan struct{})
				mem.restoreStarted, mem.restoreGo = make(chan struct{}), goOn
				rec.on = func(e ngbak.Event) {
					if e.Phase == "restore" && e.Backend == "stream" && e.Bytes >= progressStep && early == nil {
						early = byBackend(rec.events)["mem"]
						close(goOn)
					}
				}
			}
			if _, err := env.m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
				t.Fatal(err)
			}
			rec.on = nil
			got := rec.take()
			want = append([]ngbak.Event{{Op: "restore", ID: man.ID, Phase: "verify"}}, verifyEvents("restore", man.ID, man, false)...)
			if len(got) < len(want) {
				t.Fatalf("restore events: %+v", got)
			}
			if diff := cmp.Diff(want, got[:len(want)]); diff != "" {
				t.Errorf("restore's verify events (-want +got):\n%s", diff)
			}
			// The restore phase: in parallel the backends' events
			// interleave; each backend's are in order.
			restoring := byBackend(got[len(want) : len(got)-1])
			wantRestoring := map[string][]ngbak.Event{}
			for _, b := range man.Backends {
				wantRestoring[b.Name] = backendEvents("restore", man.ID, "restore", b.Name, size[b.Name], size[b.Name])
			}
			if diff := cmp.Diff(wantRestoring, restoring); diff != "" {
				t.Errorf("restore phase events by backend (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(ngbak.Event{Op: "restore", ID: man.ID, Phase: "done"}, got[len(got)-1]); diff != "" {
				t.Errorf("last restore event (-want +got):\n%s", diff)
			}
			if c.opts.Parallelism > 1 {
				wantEarly := []ngbak.Event{{Op: "restore", ID: man.ID, Phase: "verify", Backend: "mem", Total: size["mem"]}}
				wantEarly = append(wantEarly, wantEarly[0])
				wantEarly[1].Bytes = size["mem"]
				wantEarly = append(wantEarly, ngbak.Event{Op: "restore", ID: man.ID, Phase: "restore", Backend: "mem", Total: size["mem"]})
				if diff := cmp.Diff(wantEarly, early); diff != "" {
					t.Errorf("events of the spooled backend before its Restore read (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// An archive made before Backend.Size was recorded: its verify events
// have no Total, its restore events the size of the files its manifest
// lists.
func TestProgressOldArchive(t *testing.T) {
	ctx := context.Background()
	rec := &recorder{}
	env := newEnv(t, ngbak.Options{Progress: rec.event}, &streamExporter{})
	s := goodSpec()
	s.entries = []entry{file("stream/known.json", "first file"), file("stream/unknown.json", "second file")}
	s.man.Backends[0].Name, s.man.Backends[0].Kind, s.man.Backends[0].Files = "stream", "stream", nil
	for _, e := range s.entries {
		s.man.Backends[0].Files = append(s.man.Backends[0].Files, ngbak.File{Path: e.hdr.Name, Size: e.hdr.Size, SHA256: hexSum(e.data)})
	}
	man, err := env.m.Import(ctx, bytes.NewReader(s.build(t)))
	if err != nil {
		t.Fatal(err)
	}
	if man.Backends[0].Size != 0 {
		t.Fatalf("the old archive's backend has size %d", man.Backends[0].Size)
	}
	size := sizes(man)["stream"]
	got := rec.take()
	if len(got) == 0 || got[len(got)-1].Phase != "done" {
		t.Fatalf("import events: %+v", got)
	}
	if diff := cmp.Diff(backendEvents("import", "", "verify", "stream", size, 0), got[:len(got)-1]); diff != "" {
		t.Errorf("import events (-want +got):\n%s", diff)
	}
	rec.id = man.ID
	if err := env.m.Verify(ctx, man.ID); err != nil {
		t.Fatal(err)
	}
	want := append(verifyEvents("verify", man.ID, man, true), ngbak.Event{Op: "verify", ID: man.ID, Phase: "done"})
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("verify events (-want +got):\n%s", diff)
	}
	if _, err := env.m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
		t.Fatal(err)
	}
	want = append([]ngbak.Event{{Op: "restore", ID: man.ID, Phase: "verify"}}, verifyEvents("restore", man.ID, man, true)...)
	want = append(want, backendEvents("restore", man.ID, "restore", "stream", size, size)...)
	want = append(want, ngbak.Event{Op: "restore", ID: man.ID, Phase: "done"})
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("restore events (-want +got):\n%s", diff)
	}
}

// A manifest whose backend's size is not what its files hold is corrupt.
func TestBackendSizeChecked(t *testing.T) {
	env := newEnv(t, ngbak.Options{}, newMem("mem", nil))
	s := goodSpec()
	s.man.Backends[0].Size = 1
	if _, err := env.m.Import(context.Background(), bytes.NewReader(s.build(t))); !errors.Is(err, ngbak.ErrCorrupt) {
		t.Fatalf("Import of a manifest with a wrong size: %v, want ErrCorrupt", err)
	}
}
