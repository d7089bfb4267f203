package api_test

import (
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/avatar-api/avatar-api/internal/testkit"
)

// TestDocsInABrowser: the documentation page works from the binary alone
// (no request leaves the service): Swagger UI shows the API, a customer
// authorises with a real key, runs "Try it out" on POST /generate with
// the fixtures chosen as files, then on GET /status/{job_id} for the job
// it made, and reads its 200 answer on the page. GET / sends a
// browser there. The screenshot is kept as a test artifact.
func TestDocsInABrowser(t *testing.T) {
	t.Parallel()
	tb := setup(t, options{})

	// The page's steps, and the job's generation between them (which
	// tb.waitFor allows 90 s), on a machine the whole suite loads.
	ctx, cancel := context.WithTimeout(testkit.Browser(t), 4*time.Minute)
	defer cancel()
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v\nerrors in the page: %q", what, err, testkit.BrowserErrors(ctx))
		}
	}
	wait := func(what, cond string) {
		t.Helper()
		run("waiting for "+what, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(0)))
	}
	read := func(selector string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(`+strconv.Quote(selector)+`).textContent`))
		if err != nil {
			t.Fatalf("reading %s: %v", selector, err)
		}
		return v
	}

	run("opening the service's root", chromedp.Navigate(tb.url+"/"))
	wait("the documentation", `location.pathname === "/docs" && !!document.querySelector(".swagger-ui .info .title")`)
	if title := read(".swagger-ui .info .title"); !strings.Contains(title, "Avatar API") {
		t.Errorf("the page's title is %q", title)
	}
	run("opening the authorisation dialog", chromedp.Click(chromedp.CSS(`.auth-wrapper .btn.authorize`)))
	wait("the key's field", `!!document.querySelector(".auth-container input")`)
	run("authorising with a key",
		chromedp.SendKeys(chromedp.CSS(`.auth-container input`), keyA),
		chromedp.Click(chromedp.CSS(`.auth-container .auth-btn-wrapper .authorize`)),
	)
	wait("the key to be taken", `!!document.querySelector('.auth-container button[aria-label="Remove authorization"]')`)
	run("closing the dialog", chromedp.Click(chromedp.CSS(`.auth-container .btn-done`)))

	// POST /generate, the fixtures uploaded from the page.
	gen := `#operations-Jobs-generate`
	run("opening POST /generate", chromedp.Click(chromedp.CSS(gen+` .opblock-summary`)))
	wait("its Try it out button", `!!document.querySelector("`+gen+` .try-out__btn")`)
	run("trying it out", chromedp.Click(chromedp.CSS(gen+` .try-out__btn`)))
	wait("the image field", `!!document.querySelector('`+gen+` tr[data-property-name="image"] input[type=file]')`)
	run("choosing the portrait and the speech",
		chromedp.SetUploadFiles(chromedp.CSS(gen+` tr[data-property-name="image"] input[type=file]`), []string{fixture("astronaut.png")}),
		chromedp.SetUploadFiles(chromedp.CSS(gen+` tr[data-property-name="audio"] input[type=file]`), []string{fixture("speech_en_4s.wav")}),
	)
	run("executing", chromedp.Click(chromedp.CSS(gen+` .execute`)))
	wait("the answer", `!!document.querySelector("`+gen+` .live-responses-table tbody .response-col_status")`)
	status := strings.TrimSpace(read(gen + ` .live-responses-table tbody .response-col_status`))
	body := read(gen + ` .live-responses-table tbody .response-col_description`)
	id := regexp.MustCompile(`"job_id":\s*"([0-9a-f-]{36})"`).FindStringSubmatch(body)
	if status != "202" || id == nil {
		t.Fatalf("POST /generate from the page: status %q, body %.400q\nthe page's request: %s", status, body, read(gen+` .curl-command`))
	}
	j := tb.waitFor(t, keyA, id[1], "completed")

	op := `#operations-Jobs-status`
	run("opening GET /status/{job_id}", chromedp.Click(chromedp.CSS(op+` .opblock-summary`)))
	wait("its Try it out button", `!!document.querySelector("`+op+` .try-out__btn")`)
	run("trying it out", chromedp.Click(chromedp.CSS(op+` .try-out__btn`)))
	wait("the job_id field", `!!document.querySelector("`+op+` tr[data-param-name=job_id] input")`)
	run("executing for the real job",
		chromedp.SendKeys(chromedp.CSS(op+` tr[data-param-name=job_id] input`), j.ID),
		chromedp.Click(chromedp.CSS(op+` .execute`)),
	)
	wait("the answer", `!!document.querySelector("`+op+` .live-responses-table tbody .response-col_status")`)
	status = strings.TrimSpace(read(op + ` .live-responses-table tbody .response-col_status`))
	body = read(op + ` .live-responses-table tbody .response-col_description`)
	if status != "200" || !strings.Contains(body, j.ID) || !strings.Contains(body, `"completed"`) {
		t.Errorf("the page shows status %q and body %.300q", status, body)
	}
	// POST /generate folded again, so that the page fits a readable
	// screenshot: the header, the authorised lock and GET /status's answer.
	// Quality 100 makes chromedp capture a PNG, as the file's name says.
	run("folding POST /generate", chromedp.Click(chromedp.CSS(gen+` .opblock-summary`)))
	wait("it to fold", `!document.querySelector("`+gen+` .try-out__btn")`)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shot := testkit.Artifact(t, "docs.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)
	if errs := testkit.BrowserErrors(ctx); len(errs) > 0 {
		t.Errorf("errors in the page: %q", errs)
	}
}
