package ngbakhttp_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/ngbakhttp"
)

// The dashboard in a real headless Chromium (Debian's, installed by make
// test), driven with chromedp against the handler on a loopback port.

func chromium(t *testing.T) string {
	for _, name := range []string{os.Getenv("NGBAK_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("NGBAK_REQUIRE_SERVERS") != "" {
		t.Fatal("no Chromium: apt-get install -y chromium (make test does)")
	}
	t.Skip("no Chromium: apt-get install -y chromium, or set NGBAK_CHROMIUM")
	return ""
}

func newBrowser(t *testing.T) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // CI runs as root
		chromedp.WindowSize(1400, 900),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	// Chromium is newer than chromedp's protocol tables: events it does not
	// know (the <dialog>'s top layer) are noise, not errors.
	ctx, cancel2 := chromedp.NewContext(actx, chromedp.WithErrorf(func(format string, args ...any) {
		if !strings.Contains(format, "unhandled") {
			t.Logf("chromedp: "+format, args...)
		}
	}))
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancel3)
	return ctx
}

func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// rowSel selects an element in the row of a backup.
func rowSel(id, rest string) string { return `tr[data-id="` + id + `"] ` + rest }

func TestDashboard(t *testing.T) {
	e := newEnv(t, ngbakhttp.Options{})
	ctx := newBrowser(t)
	download := t.TempDir()

	// A backup whose label is markup: it must show as text.
	const evil = `<script>window.__xss=1</script><img src=x onerror="window.__xss=2">`
	evilMan, err := e.m.Create(context.Background(), &ngbak.CreateOptions{Labels: map[string]string{"note": evil}})
	if err != nil {
		t.Fatal(err)
	}

	var labelText string
	var xss bool
	var injected int
	run(t, ctx, "open the dashboard",
		browser.SetDownloadBehavior(browser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(download).WithEventsEnabled(true),
		chromedp.Navigate(e.url("/#token="+testToken)),
		chromedp.WaitVisible(rowSel(evilMan.ID, "td.labels")),
		chromedp.Text(rowSel(evilMan.ID, "td.labels"), &labelText),
		chromedp.Evaluate(`window.__xss !== undefined`, &xss),
		chromedp.Evaluate(`document.querySelectorAll("#backups script, #backups img").length`, &injected),
	)
	if !strings.Contains(labelText, evil) || xss || injected != 0 {
		t.Fatalf("label cell %q, script ran %v, injected elements %d", labelText, xss, injected)
	}

	// Create, watching the job's states as the page shows them.
	var states []string
	var status string
	run(t, ctx, "create a backup",
		chromedp.Evaluate(`window.__states = []; new MutationObserver(() => { const s = document.getElementById("job").dataset.state; if (s && window.__states.at(-1) !== s) window.__states.push(s); }).observe(document.getElementById("job"), {attributes: true}); true`, nil),
		chromedp.Click("#create"),
		chromedp.WaitVisible(`#job[data-kind="backup"][data-state="succeeded"]`),
		chromedp.Evaluate(`window.__states`, &states),
		chromedp.Text("#job-status", &status),
	)
	if len(states) < 2 || states[len(states)-1] != "succeeded" || !strings.HasPrefix(status, "Done:") {
		t.Fatalf("job states seen %v, status %q", states, status)
	}
	list, err := e.m.List(context.Background())
	if err != nil || len(list) != 2 {
		t.Fatalf("after create: %d backups, %v", len(list), err)
	}
	id := list[0].Manifest.ID
	run(t, ctx, "the new backup appears", chromedp.WaitVisible(rowSel(id, "td.id")))

	// Verify, a job too.
	run(t, ctx, "verify",
		chromedp.Click(rowSel(id, `button[data-op="verify"]`)),
		chromedp.WaitVisible(`#job[data-kind="verify"][data-state="succeeded"]`),
		chromedp.Text("#job-status", &status),
	)
	if !strings.HasPrefix(status, "Every hash matches") {
		t.Fatalf("verify: status %q", status)
	}

	// Download.
	run(t, ctx, "download", chromedp.Click(rowSel(id, `button[data-op="download"]`)))
	stored, _ := os.ReadFile(filepath.Join(e.storage, id+".ngbak"))
	var got []byte
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		entries, _ := os.ReadDir(download)
		for _, en := range entries {
			if b, err := os.ReadFile(filepath.Join(download, en.Name())); err == nil && len(b) == len(stored) {
				got = b
			}
		}
		if got != nil {
			break
		}
	}
	if !bytes.Equal(got, stored) {
		t.Fatalf("downloaded %d bytes, the archive has %d", len(got), len(stored))
	}
	saved := filepath.Join(t.TempDir(), id+".ngbak")
	os.WriteFile(saved, got, 0o644)

	// Delete, with confirmation.
	var confirmText string
	run(t, ctx, "delete",
		chromedp.Click(rowSel(id, `button[data-op="delete"]`)),
		chromedp.WaitVisible("#confirm"),
		chromedp.Text("#confirm-title", &confirmText),
		chromedp.Click("#confirm-ok"),
		chromedp.WaitNotPresent(rowSel(id, "td.id")),
	)
	if !strings.Contains(confirmText, id) {
		t.Fatalf("the delete confirmation does not name the backup: %q", confirmText)
	}
	if _, err := e.m.Get(context.Background(), id); err == nil {
		t.Fatal("the backup is still there after Delete")
	}

	// Upload it back.
	var msg string
	run(t, ctx, "upload",
		chromedp.SetUploadFiles("#upload-file", []string{saved}, chromedp.ByQuery),
		chromedp.WaitVisible(rowSel(id, "td.id")),
		chromedp.Text("#message", &msg),
	)
	if !strings.Contains(msg, "verified as "+id) {
		t.Fatalf("upload message %q", msg)
	}

	// Restore, with a confirmation that names what will be replaced.
	workFile := filepath.Join(e.work, "kv_store_full_docs.json")
	os.WriteFile(workFile, []byte(`{"changed": "after the backup"}`), 0o644)
	var items string
	run(t, ctx, "restore",
		chromedp.Click(rowSel(id, `button[data-op="restore"]`)),
		chromedp.WaitVisible("#confirm"),
		chromedp.Text("#confirm-list", &items),
		chromedp.Click("#confirm-ok"),
		chromedp.WaitVisible(`#job[data-kind="restore"][data-state="succeeded"]`),
	)
	if !strings.Contains(items, "json (json)") {
		t.Fatalf("the restore confirmation lists %q", items)
	}
	if b, _ := os.ReadFile(workFile); string(b) != `{"doc-1": {"content": "original"}}` {
		t.Fatalf("working dir after the restore: %s", b)
	}

	// A screenshot, kept as a test artifact (git-ignored).
	var png []byte
	run(t, ctx, "screenshot", chromedp.FullScreenshot(&png, 100))
	dir := filepath.Join("..", "testdata", "artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dashboard.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
