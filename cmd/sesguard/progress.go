package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// outputWidth is the widest line `sesguard local` prints by default.
const outputWidth = 100

// DefaultProgressEvery is how often a long stage reports progress when the
// output is not a terminal (a CI log, a pipe): a run that prints nothing
// for minutes looks hung.
const DefaultProgressEvery = 4 * time.Second

// stages prints `sesguard local`'s stages with the time elapsed since the
// run began, and keeps long stages audible.
type stages struct {
	out   io.Writer // safe for concurrent writes
	began time.Time
	live  bool          // a terminal: progress is redrawn in place instead
	every time.Duration // progress interval when not live
}

// line prints one stage line: "[ 12.3s] text".
func (s *stages) line(format string, a ...any) {
	fmt.Fprintf(s.out, "[%5.1fs] %s\n", time.Since(s.began).Seconds(), fmt.Sprintf(format, a...))
}

// during runs fn; when the output is not a terminal it prints status()
// every s.every until fn returns.
func (s *stages) during(status func() string, fn func() error) error {
	if s.live || s.every <= 0 {
		return fn()
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(s.every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s.line("  … %s", status())
			}
		}
	}()
	err := fn()
	close(done)
	<-stopped
	return err
}

// wrapTo prints text wrapped at width, the first line after prefix and
// the rest indented as deep.
func wrapTo(w io.Writer, prefix, text string, width int) {
	indent := strings.Repeat(" ", len([]rune(prefix)))
	line, n := prefix, len([]rune(prefix))
	empty := true
	for _, word := range strings.Fields(text) {
		wl := len([]rune(word))
		if !empty && n+1+wl > width {
			fmt.Fprintln(w, line)
			line, n = indent+word, len(indent)+wl
			continue
		}
		if !empty {
			line += " "
			n++
		}
		line += word
		n += wl
		empty = false
	}
	fmt.Fprintln(w, line)
}

// clip shortens s to width runes, marking the cut with "…".
func clip(s string, width int) string {
	r := []rune(s)
	if len(r) <= width {
		return s
	}
	return string(r[:width-1]) + "…"
}
