package ngbakhttp_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/ngbakhttp"
)

// gate is a store whose restore waits until the test opens it, so that
// the page can be seen while a restore runs.
type gate struct {
	started chan struct{}
	open    chan struct{}
	once    sync.Once // a rollback restores it again
}

func (g *gate) Name() string { return "gate" }
func (g *gate) Kind() string { return "test" }
func (g *gate) Export(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
	err := w.WriteFile("state", 2, strings.NewReader("ok"))
	return ngbak.Info{Format: "gate/1", Stats: map[string]int64{"keys": 1}}, err
}
func (g *gate) Restore(ctx context.Context, r *ngbak.Reader) error {
	if err := skipAll(r); err != nil {
		return err
	}
	g.once.Do(func() { close(g.started) })
	select {
	case <-g.open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func skipAll(r *ngbak.Reader) error {
	for {
		if _, _, err := r.Next(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
	}
}

func artifact(t *testing.T, name string, png []byte) {
	t.Helper()
	dir := filepath.Join("..", "testdata", "artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The restore dialog shows the plan; when the plan deletes what the backup
// does not hold, Restore stays disabled until the backup's id is typed;
// the running restore shows its phase and backend.
func TestDashboardRestorePlan(t *testing.T) {
	g := &gate{started: make(chan struct{}), open: make(chan struct{})}
	e := newEnv(t, ngbakhttp.Options{}, g)
	man, err := e.m.Create(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	later := filepath.Join(e.work, "kv_store_llm_response_cache.json")
	os.WriteFile(later, []byte(`{"later": 1}`), 0o644)
	ctx := newBrowser(t)
	var planText string
	var disabledBefore, disabledWrong, disabledRight bool
	var png []byte
	run(t, ctx, "open the restore dialog",
		chromedp.Navigate(e.url("/#token="+testToken)),
		chromedp.WaitVisible(rowSel(man.ID, "td.id")),
		chromedp.Click(rowSel(man.ID, `button[data-op="restore"]`)),
		chromedp.WaitVisible(`#confirm li.plan[data-backend="json"]`),
		chromedp.Text("#confirm-list", &planText),
		chromedp.Evaluate(`document.getElementById("confirm-ok").disabled`, &disabledBefore),
	)
	if !disabledBefore {
		t.Fatal("Restore is enabled before the id is typed, though the plan deletes outside the backup")
	}
	run(t, ctx, "type the id",
		chromedp.SendKeys("#confirm-typed", "not the id"),
		chromedp.Evaluate(`document.getElementById("confirm-ok").disabled`, &disabledWrong),
		chromedp.FullScreenshot(&png, 90),
		chromedp.Evaluate(`document.getElementById("confirm-typed").value = ""; true`, nil),
		chromedp.SendKeys("#confirm-typed", man.ID),
		chromedp.Evaluate(`document.getElementById("confirm-ok").disabled`, &disabledRight),
	)
	artifact(t, "dashboard-restore-plan.png", png)
	for _, want := range []string{
		"json (json): the backup holds bytes 34, files 1; the store holds bytes 46, files 2 now",
		"deletes file kv_store_llm_response_cache.json (12 bytes), which the backup does not hold",
		"gate (test): the backup holds keys 1",
	} {
		if !strings.Contains(planText, want) {
			t.Errorf("the dialog does not say %q:\n%s", want, planText)
		}
	}
	if !disabledBefore || !disabledWrong || disabledRight {
		t.Fatalf("Restore disabled: before typing %v, with a wrong id %v, with the id %v", disabledBefore, disabledWrong, disabledRight)
	}
	if _, err := os.Stat(later); err != nil {
		t.Fatal("the plan changed the store")
	}

	var status string
	run(t, ctx, "restore",
		chromedp.Click("#confirm-ok"),
		chromedp.WaitVisible(`#job[data-kind="restore"][data-state="running"]`),
	)
	<-g.started
	run(t, ctx, "the running restore",
		// The verify phase names the backends too: wait for the restore's.
		chromedp.Poll(`document.getElementById("job-status").textContent.startsWith("Phase restore, ") && document.getElementById("job-status").textContent.includes("gate")`, nil),
		chromedp.Text("#job-status", &status),
		chromedp.FullScreenshot(&png, 90),
	)
	artifact(t, "dashboard-restore-running.png", png)
	close(g.open)
	run(t, ctx, "the restore ends", chromedp.WaitVisible(`#job[data-kind="restore"][data-state="succeeded"]`))
	// The backends restore in parallel: the status names every one the
	// phase has started.
	if !strings.HasPrefix(status, "Phase restore, ") || !strings.Contains(status, "gate") {
		t.Fatalf("running restore status %q", status)
	}
	if _, err := os.Stat(later); err == nil {
		t.Fatal("the restore kept the file its plan said it deletes")
	}
}

// The list shows a page of 5,000 backups, says how many there are, and
// shows more on request; its times are logged, not asserted.
func TestDashboardManyBackups(t *testing.T) {
	e := newEnv(t, ngbakhttp.Options{})
	ids := manyBackups(t, e, 5000)
	ctx := newBrowser(t)
	var rows int
	var count string
	start := time.Now()
	run(t, ctx, "open the dashboard",
		chromedp.Navigate(e.url("/#token="+testToken)),
		chromedp.WaitVisible(rowSel(ids[99], "td.id")),
		chromedp.Evaluate(`document.querySelectorAll("#backups tbody tr").length`, &rows),
		chromedp.Text("#count", &count),
	)
	first := time.Since(start)
	if rows != 100 || count != "Showing 100 of 5000 backups." {
		t.Fatalf("first page: %d rows, %q", rows, count)
	}
	start = time.Now()
	run(t, ctx, "show more",
		chromedp.Click("#more"),
		chromedp.WaitVisible(rowSel(ids[199], "td.id")),
		chromedp.Evaluate(`document.querySelectorAll("#backups tbody tr").length`, &rows),
	)
	t.Logf("5000 backups: first page shown in %v, the second in %v", first, time.Since(start))
	if rows != 200 {
		t.Fatalf("after Show more: %d rows", rows)
	}
}

// A 1 GiB download streams to disk: the browser starts saving it before
// the server has sent most of it (through fetch and a blob it could begin
// only once the page held all of it; Chromium keeps such blobs on disk, so
// memory alone does not tell), and the renderers' memory stays far below
// the archive's size. The archive is a sparse file put in place of a real
// one (a download does not verify), so the test costs the download's
// gibibyte on disk only.
func TestDashboardLargeDownload(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 1 GiB")
	}
	e := newEnv(t, ngbakhttp.Options{})
	man, err := e.m.Create(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	const size = 1 << 30
	if err := os.Truncate(filepath.Join(e.storage, man.ID+".ngbak"), size); err != nil {
		t.Fatal(err)
	}
	download := t.TempDir()
	var served atomic.Int64
	e.srv.Config.Handler = countBytes(e.srv.Config.Handler, &served)
	ctx := newBrowser(t)
	run(t, ctx, "open the dashboard",
		browser.SetDownloadBehavior(browser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(download).WithEventsEnabled(true),
		chromedp.Navigate(e.url("/#token="+testToken)),
		chromedp.WaitVisible(rowSel(man.ID, "td.id")),
	)
	base := rendererRSS(t, ctx)
	run(t, ctx, "download", chromedp.Click(rowSel(man.ID, `button[data-op="download"]`)))
	var peak int64
	var got int64
	atBegin := int64(-1) // served when the first file appeared in the folder
	deadline := time.Now().Add(3 * time.Minute)
	for got != size {
		if time.Now().After(deadline) {
			t.Fatalf("downloaded %d of %d bytes in 3 minutes", got, int64(size))
		}
		peak = max(peak, rendererRSS(t, ctx))
		time.Sleep(50 * time.Millisecond)
		got = 0
		entries, _ := os.ReadDir(download)
		if len(entries) > 0 && atBegin < 0 {
			atBegin = served.Load()
		}
		for _, en := range entries {
			if fi, err := en.Info(); err == nil && en.Name() == man.ID+".ngbak" {
				got = fi.Size()
			}
		}
	}
	t.Logf("1 GiB download: %d MiB served when the browser began saving it; renderer RSS %d MiB before, peak %d MiB during", atBegin>>20, base>>20, peak>>20)
	if atBegin > size/2 {
		t.Fatalf("the browser began saving the download after %d MiB of %d had been sent: the page read it first", atBegin>>20, size>>20)
	}
	if peak-base > 256<<20 {
		t.Fatalf("the renderers grew by %d MiB during a 1 GiB download: the page holds the archive", (peak-base)>>20)
	}
}

// rendererRSS sums the resident memory of the renderer processes of the
// test's own Chromium (other tests on the machine run theirs).
func rendererRSS(t *testing.T, ctx context.Context) int64 {
	t.Helper()
	root := chromedp.FromContext(ctx).Browser.Process().Pid
	parent := map[int]int{}
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so after ")".
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if len(f) > 1 {
			parent[pid], _ = strconv.Atoi(f[1])
		}
	}
	ours := func(pid int) bool {
		for i := 0; i < 64 && pid > 1; i++ {
			if pid == root {
				return true
			}
			pid = parent[pid]
		}
		return false
	}
	var total int64
	n := 0
	for pid := range parent {
		if !ours(pid) {
			continue
		}
		cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !strings.Contains(string(cmd), "--type=renderer") {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
				total += kb << 10
				n++
			}
		}
	}
	if n == 0 {
		t.Fatal("no renderer process of the test's Chromium in /proc")
	}
	return total
}

// countBytes counts the bytes h writes in its responses.
func countBytes(h http.Handler, n *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&countingWriter{ResponseWriter: w, n: n}, r)
	})
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// Unwrap lets http.ResponseController reach Flush (server-sent events).
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
