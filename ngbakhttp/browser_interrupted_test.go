package ngbakhttp_test

import (
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Issue 13 in the dashboard: a restore that died half way is shown on the
// rows of its backup and its safety backup, and Roll back on the safety
// backup's row puts the store back as it was before that restore.
func TestDashboardInterruptedRollBack(t *testing.T) {
	e, safety, store := interruptedFixture(t)
	ctx := newBrowser(t)
	var note, title string
	run(t, ctx, "open the dashboard",
		chromedp.Navigate(e.url("/#token="+testToken)),
		chromedp.WaitVisible(rowSel(safety.BackupID, ".interrupted")),
		chromedp.Text(rowSel(safety.BackupID, ".interrupted"), &note),
	)
	if want := "interrupted restore of " + safety.BackupID + " (safety backup " + safety.BackupID + ")"; strings.TrimSpace(note) != want {
		t.Fatalf("the row says %q, want %q", note, want)
	}
	run(t, ctx, "roll back",
		chromedp.Click(rowSel(safety.BackupID, `button[data-op="roll back"]`)),
		chromedp.WaitVisible("#confirm"),
		chromedp.Text("#confirm-title", &title),
		chromedp.Click("#confirm-ok"),
		chromedp.WaitVisible(`#job[data-kind="rollback"][data-state="succeeded"]`),
		chromedp.WaitNotPresent(rowSel(safety.BackupID, ".interrupted")),
	)
	if !strings.Contains(title, safety.BackupID) {
		t.Fatalf("the confirmation does not name the restore: %q", title)
	}
	if got, _ := os.ReadFile(store); string(got) != `{"doc-1": {"content": "original"}}` {
		t.Errorf("store after the rollback: %s", got)
	}
}
