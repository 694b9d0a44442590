package ngbak_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ngbak/ngbak"
)

// TestRetentionUnderClockSkew holds every retention rule, alone and
// combined, to its invariants on seeded random histories that a real
// storage gets: backups over years, several in one millisecond, safety
// backups, and backups dated in the future (another machine's clock running
// ahead, or an import dated 2099):
//
//   - the newest backup that is not dated in the future is kept, whatever
//     the future-dated ones;
//   - Within keeps every backup within Within of min(newest, now);
//   - Last n keeps at least min(n, backups);
//   - the newest safety backup is kept, and the rules count no safety
//     backup;
//   - the decisions do not depend on the order of the input.
func TestRetentionUnderClockSkew(t *testing.T) {
	now := time.Now().UTC()
	policies := []ngbak.RetentionPolicy{
		{Last: 1}, {Last: 3}, {Hourly: 2}, {Daily: 1}, {Daily: 7}, {Weekly: 2}, {Monthly: 3}, {Yearly: 1},
		{Within: time.Hour}, {Within: 30 * 24 * time.Hour}, {Last: 1, Within: time.Minute},
		{Last: 2, Daily: 7, Weekly: 4, Monthly: 12, Yearly: 3, Safety: 2},
	}
	violations, future := 0, 0
	for seed := uint64(1); seed <= 300; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		var backups []ngbak.Backup
		add := func(at time.Time, safety bool) {
			man := &ngbak.Manifest{ID: ngbak.NewID(at), CreatedAt: at.UTC().Truncate(time.Millisecond), Labels: map[string]string{}}
			if safety {
				man.Labels[ngbak.LabelSafetyFor] = "x"
			}
			backups = append(backups, ngbak.Backup{Manifest: man})
		}
		for range 1 + rng.IntN(25) {
			at := now.Add(-time.Duration(rng.Int64N(int64(3 * 365 * 24 * time.Hour))))
			add(at, rng.IntN(6) == 0)
			if rng.IntN(5) == 0 {
				add(at, false) // the same millisecond
			}
		}
		switch rng.IntN(3) {
		case 1: // a clock a little ahead
			future++
			add(now.Add(time.Duration(1+rng.IntN(48))*time.Hour), false)
		case 2: // dated 2099
			future++
			add(time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), false)
		}
		for _, p := range policies {
			ds, err := p.Apply(backups)
			if err != nil {
				t.Fatalf("seed %d, %+v: %v", seed, p, err)
			}
			shuffled := append([]ngbak.Backup(nil), backups...)
			rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			again, _ := p.Apply(shuffled)
			fail := func(format string, args ...any) {
				t.Helper()
				violations++
				if violations <= 10 {
					t.Errorf("seed %d, policy %+v: %s", seed, p, fmt.Sprintf(format, args...))
				}
			}
			if diff := cmp.Diff(keptIDs(ds), keptIDs(again)); diff != "" {
				fail("decisions depend on the input order:\n%s", diff)
			}
			var newestPast, newestSafety *ngbak.Decision
			var newest time.Time
			real := 0
			for i := range ds {
				d := &ds[i]
				_, safety := d.Backup.Manifest.Labels[ngbak.LabelSafetyFor]
				at := d.Backup.Manifest.CreatedAt
				switch {
				case safety:
					if newestSafety == nil {
						newestSafety = d
					}
				default:
					real++
					if at.After(newest) {
						newest = at
					}
					if newestPast == nil && !at.After(now) {
						newestPast = d
					}
				}
			}
			if newestPast != nil && !newestPast.Keep {
				fail("the newest backup not dated in the future (%s) is deleted", newestPast.Backup.Manifest.ID)
			}
			if newestSafety != nil && !newestSafety.Keep {
				fail("the newest safety backup is deleted")
			}
			kept := 0
			for _, d := range ds {
				_, safety := d.Backup.Manifest.Labels[ngbak.LabelSafetyFor]
				if safety {
					continue
				}
				if d.Keep {
					kept++
				}
				ref := newest
				if ref.After(now) {
					ref = now
				}
				if p.Within > 0 && !d.Backup.Manifest.CreatedAt.Before(ref.Add(-p.Within)) && !d.Keep {
					fail("%s is within %v of %s and deleted", d.Backup.Manifest.ID, p.Within, ref)
				}
			}
			if kept < min(p.Last, real) {
				fail("kept %d of %d backups, Last is %d", kept, real, p.Last)
			}
			// A bucket rule alone keeps the newest backup of each of its
			// most recent buckets (UTC), and only those (and "newest").
			for _, rule := range []struct {
				n      int
				bucket func(time.Time) string
			}{
				{p.Hourly, func(t time.Time) string { return t.Format("2006-01-02T15") }},
				{p.Daily, func(t time.Time) string { return t.Format("2006-01-02") }},
				{p.Weekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprint(y, w) }},
				{p.Monthly, func(t time.Time) string { return t.Format("2006-01") }},
				{p.Yearly, func(t time.Time) string { return t.Format("2006") }},
			} {
				if rule.n == 0 || p.Last+p.Hourly+p.Daily+p.Weekly+p.Monthly+p.Yearly != rule.n || p.Within != 0 {
					continue
				}
				seen := map[string]bool{}
				for _, d := range ds { // newest first
					if _, safety := d.Backup.Manifest.Labels[ngbak.LabelSafetyFor]; safety {
						continue
					}
					b := rule.bucket(d.Backup.Manifest.CreatedAt.UTC())
					first := !seen[b] && len(seen) < rule.n
					if !seen[b] && len(seen) < rule.n {
						seen[b] = true
					}
					if first != d.Keep && !(d.Keep && slices.Contains(d.Reasons, "newest")) {
						fail("%s (bucket %s): kept %v, want %v (%v)", d.Backup.Manifest.ID, b, d.Keep, first, d.Reasons)
					}
				}
			}
		}
	}
	t.Logf("300 histories (%d with a future-dated backup) under %d policies: %d invariant violations", future, len(policies), violations)
	if violations > 0 {
		t.Fatalf("%d invariant violations", violations)
	}
}

func keptIDs(ds []ngbak.Decision) []string {
	var out []string
	for _, d := range ds {
		if d.Keep {
			out = append(out, d.Backup.Manifest.ID)
		}
	}
	return out
}

const idChildEnv = "NGBAK_ID_CHILD"

// idChild prints NewID for one fixed millisecond, many times: what two
// processes starting a backup in the same millisecond get. (A pair of
// ids of one millisecond shares its 24 random bits with odds of one in
// 16.7 million, and then the storage refuses the second: the test makes
// 2000 pairs, failing falsely about once in 8000 runs.)
func idChild(at string) int {
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return 2
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	for range 2000 {
		fmt.Fprintln(w, ngbak.NewID(t))
	}
	return 0
}

// TestIDsOfTwoProcesses: two processes making ids in the same millisecond
// get different ones, and should two ever collide, the storage refuses the
// second rather than replace the first.
func TestIDsOfTwoProcesses(t *testing.T) {
	at := time.Now().UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano)
	seen := map[string]int{}
	stamps := map[string]int{}
	for p := range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), idChildEnv+"="+at)
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		for _, id := range strings.Fields(out.String()) {
			if q, dup := seen[id]; dup {
				t.Fatalf("process %d made id %s, as process %d did", p, id, q)
			}
			seen[id] = p
			stamp, _, _ := strings.Cut(id, "-")
			stamps[stamp]++
		}
	}
	if len(seen) != 4000 {
		t.Fatalf("%d ids, want 4000", len(seen))
	}
	shared := 0
	for _, n := range stamps {
		if n == 2 {
			shared++
		}
	}
	if shared < 1900 {
		t.Fatalf("only %d timestamps made by both processes: the test does not make ids in the same millisecond", shared)
	}
	t.Logf("%d ids from two processes, %d timestamps made by both: no id made twice", len(seen), shared)
	// A collision, forced: the second object of one name is refused.
	ctx := context.Background()
	store := ngbak.Dir(t.TempDir())
	for i, data := range []string{"first", "second"} {
		w, err := store.Create(ctx, "x.manifest.json")
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(data))
		err = w.Commit()
		if i == 1 && !errors.Is(err, ngbak.ErrExists) {
			t.Fatalf("a second object of the same name: %v, want ErrExists", err)
		}
	}
	r, err := store.Open(ctx, "x.manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var b bytes.Buffer
	b.ReadFrom(r)
	if b.String() != "first" {
		t.Fatalf("the object holds %q after a colliding commit", b.String())
	}
}
