package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/ngbak/ngbak"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows an operation's ngbak.Events on stderr: on a terminal a
// bar per phase and backend (bytes, rate, and time left where the total
// is known), otherwise a plain line when the phase or backend changes, so
// that a log holds no bar drawings.
type progress struct {
	w     io.Writer
	tty   bool
	mu    sync.Mutex
	key   string
	n     int // steps so far: phases and backends
	bar   *progressbar.ProgressBar
	start time.Time
	bytes int64
}

func newProgress(stderr io.Writer) *progress {
	f, ok := stderr.(*os.File)
	return &progress{w: stderr, tty: ok && term.IsTerminal(int(f.Fd()))}
}

func (p *progress) event(e ngbak.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := e.Op + " " + e.Phase + " " + e.Backend
	if key != p.key {
		p.endStep()
		p.key, p.start, p.bytes = key, time.Now(), 0
		if e.Phase == "done" {
			fmt.Fprintf(p.w, "%s %s: done\n", e.Op, e.ID)
			return
		}
		p.n++
		desc := fmt.Sprintf("[%d] %s %s", p.n, e.Op, e.Phase)
		if e.Backend != "" {
			desc += " " + e.Backend
		}
		if p.tty {
			total := e.Total
			if total <= 0 {
				total = -1 // a spinner: an export's size is known at its end only
			}
			p.bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(p.w), progressbar.OptionSetDescription(desc),
				progressbar.OptionShowBytes(true), progressbar.OptionShowTotalBytes(true), progressbar.OptionSetPredictTime(true),
				progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionFullWidth(), progressbar.OptionSetRenderBlankState(true))
		} else {
			fmt.Fprintln(p.w, desc)
		}
	}
	p.bytes = e.Bytes
	if p.bar != nil {
		if e.Total > 0 && e.Total != p.bar.GetMax64() {
			p.bar.ChangeMax64(e.Total)
		}
		p.bar.Set64(e.Bytes)
	}
}

// endStep closes the current bar, or says what the step came to.
func (p *progress) endStep() {
	if p.bar != nil {
		p.bar.Finish()
		fmt.Fprintln(p.w)
		p.bar = nil
	} else if p.key != "" && p.bytes > 0 {
		d := time.Since(p.start)
		fmt.Fprintf(p.w, "  %s in %v (%s/s)\n", bytesText(p.bytes), d.Round(time.Millisecond), bytesText(int64(float64(p.bytes)/max(d.Seconds(), 1e-3))))
	}
}

// close ends the last step.
func (p *progress) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endStep()
	p.key = ""
}
