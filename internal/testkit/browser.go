package testkit

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Browser starts a headless Chromium for the test and returns a chromedp
// context on its one tab, 1440×1000, with a fresh profile; the browser is
// stopped at cleanup. The browser is $CHROMIUM when set, else
// /usr/bin/chromium, else chromium-headless-shell on the PATH; without one
// the test fails (a UI test that skips proves nothing).
//
// The context carries no deadline: the browser lives as long as it, so a
// test bounds its waits with a context derived from it. What the page
// reports as an error is collected from the tab's first message on; see
// BrowserErrors.
func Browser(t testing.TB) context.Context {
	t.Helper()
	path, err := chromium()
	if err != nil {
		t.Fatalf("install chromium: scripts/install-deps.sh --test (%v)", err)
	}
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // root in a container; the pages are the tests' own
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 1000),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	errs := &pageErrors{}
	ctx, cancel := chromedp.NewContext(alloc, chromedp.WithListener(errs.listen))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser and opens the tab
		t.Fatalf("starting %s: %v", path, err)
	}
	return context.WithValue(ctx, pageErrorsKey{}, errs)
}

// BrowserErrors is every error the page of a Browser context reported so
// far, in order: console.error and failed console.assert calls, uncaught
// exceptions and unhandled rejections, and the browser's own error log
// (a Content-Security-Policy violation, a resource that failed to load).
// It is complete up to the last action that returned: the tab hands
// events over before the answer to a command that followed them.
func BrowserErrors(ctx context.Context) []string {
	errs, ok := ctx.Value(pageErrorsKey{}).(*pageErrors)
	if !ok {
		panic("testkit.BrowserErrors: not a context from testkit.Browser")
	}
	errs.mu.Lock()
	defer errs.mu.Unlock()
	return slices.Clone(errs.list)
}

type pageErrorsKey struct{}

// pageErrors collects the errors of a tab. listen runs in the tab's
// message loop, so it only formats and appends.
type pageErrors struct {
	mu   sync.Mutex
	list []string
}

func (e *pageErrors) listen(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		parts := make([]string, len(ev.Args))
		for i, a := range ev.Args {
			parts[i] = remoteText(a)
		}
		msg = "console." + string(ev.Type) + ": " + strings.Join(parts, " ")
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg = "exception: " + d.Text
		if d.Exception != nil {
			msg += " " + remoteText(d.Exception)
		}
		if d.URL != "" {
			msg += " (" + d.URL + ")"
		}
	case *log.EventEntryAdded:
		if ev.Entry.Level != log.EntryLevelError {
			return
		}
		msg = string(ev.Entry.Source) + ": " + ev.Entry.Text
		if ev.Entry.URL != "" {
			msg += " (" + ev.Entry.URL + ")"
		}
	default:
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, msg)
}

// remoteText is a console argument as text: a string as it is, anything
// else as the browser describes it.
func remoteText(o *runtime.RemoteObject) string {
	var s string
	switch {
	case o.Type == runtime.RemoteObjectTypeString && json.Unmarshal([]byte(o.Value), &s) == nil:
		return s
	case o.Description != "":
		return o.Description
	case o.UnserializableValue != "":
		return string(o.UnserializableValue)
	default:
		return string(o.Value)
	}
}

// chromium finds the browser: $CHROMIUM, /usr/bin/chromium (Debian's
// package), or chromium-headless-shell on the PATH.
func chromium() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return exec.LookPath(p)
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", nil
	}
	return exec.LookPath("chromium-headless-shell")
}
