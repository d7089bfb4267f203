package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/avatar-api/avatar-api/internal/apikey"
	"github.com/avatar-api/avatar-api/internal/app"
	"github.com/avatar-api/avatar-api/internal/webhook"
)

const keysUsage = `Usage: avatar-api keys <command> [flags]

  create --customer NAME [--rate-limit N] [--scope generate|admin]... [--expires 90d] [--notes TEXT] [--webhook-url URL] [-q]
  list [--json] [--audit]
  show ID [--json]
  update ID [--rate-limit N] [--notes TEXT] [--expires 30d|never] [--webhook-url URL|none]
  revoke ID
  rotate ID [--grace 24h]
  webhook-secret --customer NAME [--grace 24h]

The key itself is printed once, by create and rotate; only its hash is stored.
--webhook-url sets the default webhook URL of the key's jobs. webhook-secret
creates or rotates a customer's webhook signing secret (printed once; the
previous one also signs for --grace), which a customer can also do with
POST /webhooks/secret.
Changes take effect on running servers within about a second.`

// runKeys manages API keys directly in the database.
func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, keysUsage)
		if len(args) == 0 {
			return errors.New("a keys command is required")
		}
		return flag.ErrHelp
	}
	cfg, _, err := loadConfig(stderr)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return fmt.Errorf("opening database: %w", err)
	}
	defer st.Close()
	k := &keysCmd{svc: apikey.NewService(st, []byte(cfg.APIKeyPepper)), out: stdout, errw: stderr, actor: cliActor()}
	// The webhook service needs the servers' signing secret: only the
	// commands that touch webhooks build it.
	k.hooks = func() (*webhook.Service, error) { return app.NewWebhooks(cfg, st, nil) }
	k.svc.Webhooks = lazySealer{k.hooks}
	switch args[0] {
	case "create":
		return k.create(ctx, args[1:])
	case "webhook-secret":
		return k.webhookSecret(ctx, args[1:])
	case "list":
		return k.list(ctx, args[1:])
	case "show":
		return k.show(ctx, args[1:])
	case "update":
		return k.update(ctx, args[1:])
	case "revoke":
		return k.revoke(ctx, args[1:])
	case "rotate":
		return k.rotate(ctx, args[1:])
	}
	fmt.Fprintln(stderr, keysUsage)
	return fmt.Errorf("unknown keys command %q", args[0])
}

type keysCmd struct {
	svc   *apikey.Service
	hooks func() (*webhook.Service, error)
	out   io.Writer
	errw  io.Writer
	actor string
}

// cliActor names the operator in the audit trail.
func cliActor() string {
	user := os.Getenv("USER")
	if user == "" {
		user = "unknown"
	}
	host, _ := os.Hostname()
	return "cli:" + user + "@" + host
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func (k *keysCmd) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("keys "+name, flag.ContinueOnError)
	fs.SetOutput(k.errw)
	return fs
}

// parseWithID parses flags that may come before or after the key id.
func parseWithID(fs *flag.FlagSet, args []string) (string, error) {
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if id == "" && fs.NArg() > 0 {
		id = fs.Arg(0)
	}
	if id == "" {
		return "", errors.New("a key id is required (see: avatar-api keys list)")
	}
	return id, nil
}

func (k *keysCmd) create(ctx context.Context, args []string) error {
	fs := k.flags("create")
	customer := fs.String("customer", "", "customer the key belongs to (required)")
	rate := fs.Int("rate-limit", 0, "generation requests per hour (0: the default)")
	var scopes multi
	fs.Var(&scopes, "scope", "generate (default) or admin; repeat for both")
	expires := fs.String("expires", "", "lifetime, e.g. 90d or 720h (default: never)")
	notes := fs.String("notes", "", "free-form notes")
	hook := fs.String("webhook-url", "", "default webhook URL of the key's jobs")
	quiet := fs.Bool("q", false, "print only the key")
	if err := fs.Parse(args); err != nil {
		return err
	}
	exp, err := lifetime(*expires)
	if err != nil {
		return err
	}
	c, err := k.svc.Create(ctx, apikey.CreateParams{Customer: *customer, Scopes: scopes, RateLimit: *rate, ExpiresIn: exp, Notes: *notes, WebhookURL: *hook}, k.actor)
	if err != nil {
		return err
	}
	k.printNew(c, *quiet)
	if *hook != "" {
		return k.ensureSecret(ctx, c.Record.Customer)
	}
	return nil
}

func (k *keysCmd) printNew(c *apikey.Created, quiet bool) {
	if quiet {
		fmt.Fprintln(k.out, c.Key)
		return
	}
	fmt.Fprintf(k.out, "%s\n\nThe key above is shown only now; store it safely. Its record:\n\n", c.Key)
	k.describe(c.Record)
}

func (k *keysCmd) describe(r *apikey.Key) {
	tw := tabwriter.NewWriter(k.out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  id\t%s\n  customer\t%s\n  display\t%s…\n  scopes\t%s\n  rate limit\t%s\n", r.ID, r.Customer, r.Display, strings.Join(r.Scopes, ", "), rateText(r.RateLimit))
	fmt.Fprintf(tw, "  created\t%s by %s\n  expires\t%s\n  revoked\t%s\n  last used\t%s\n", r.CreatedAt.Format(time.RFC3339), r.CreatedBy, timeText(r.ExpiresAt, "never"), timeText(r.RevokedAt, "no"), timeText(r.LastUsedAt, "never"))
	if r.RotatedFrom != "" {
		fmt.Fprintf(tw, "  replaces\t%s\n", r.RotatedFrom)
	}
	if r.Notes != "" {
		fmt.Fprintf(tw, "  notes\t%s\n", r.Notes)
	}
	if r.Webhook != "" {
		fmt.Fprintf(tw, "  webhook\t%s\n", r.Webhook)
	}
	tw.Flush()
}

func (k *keysCmd) list(ctx context.Context, args []string) error {
	fs := k.flags("list")
	asJSON := fs.Bool("json", false, "print JSON")
	audit := fs.Bool("audit", false, "also print the audit trail of every key")
	if err := fs.Parse(args); err != nil {
		return err
	}
	keys, err := k.svc.List(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(k.out).Encode(keys)
	}
	tw := tabwriter.NewWriter(k.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDISPLAY\tCUSTOMER\tSCOPES\tRATE/H\tSTATUS\tLAST USED")
	now := time.Now()
	for _, r := range keys {
		fmt.Fprintf(tw, "%s\t%s…\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Display, r.Customer, strings.Join(r.Scopes, ","),
			rateText(r.RateLimit), status(r, now), timeText(r.LastUsedAt, "never"))
	}
	tw.Flush()
	if *audit {
		events, err := k.svc.Events(ctx, "", 10000)
		if err != nil {
			return err
		}
		fmt.Fprintln(k.out, "\nAUDIT TRAIL")
		k.printEvents(events)
	}
	return nil
}

func (k *keysCmd) printEvents(events []apikey.Event) {
	tw := tabwriter.NewWriter(k.out, 0, 4, 2, ' ', 0)
	for _, e := range events {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.At.Format(time.RFC3339), e.KeyID, e.Action, e.Actor, e.Detail)
	}
	tw.Flush()
}

func (k *keysCmd) show(ctx context.Context, args []string) error {
	fs := k.flags("show")
	asJSON := fs.Bool("json", false, "print JSON")
	id, err := parseWithID(fs, args)
	if err != nil {
		return err
	}
	r, err := k.svc.Get(ctx, id)
	if err != nil {
		return err
	}
	events, err := k.svc.Events(ctx, r.ID, 1000)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(k.out).Encode(struct {
			*apikey.Key
			Events []apikey.Event `json:"events"`
		}{r, events})
	}
	k.describe(r)
	fmt.Fprintln(k.out, "\n  audit trail:")
	k.printEvents(events)
	return nil
}

func (k *keysCmd) update(ctx context.Context, args []string) error {
	fs := k.flags("update")
	rate := fs.Int("rate-limit", -1, "generation requests per hour (0: the default)")
	notes := fs.String("notes", "\x00", "free-form notes")
	expires := fs.String("expires", "", "new lifetime from now, e.g. 30d, or never")
	hook := fs.String("webhook-url", "", "default webhook URL of the key's jobs, or none")
	id, err := parseWithID(fs, args)
	if err != nil {
		return err
	}
	var p apikey.UpdateParams
	if *rate >= 0 {
		p.RateLimit = rate
	}
	if *notes != "\x00" {
		p.Notes = notes
	}
	if *hook != "" {
		if *hook == "none" {
			*hook = ""
		}
		p.WebhookURL = hook
	}
	if *expires != "" {
		d := time.Duration(0)
		if *expires != "never" {
			if d, err = lifetime(*expires); err != nil {
				return err
			}
		}
		p.ExpiresIn = &d
	}
	r, err := k.svc.Update(ctx, id, p, k.actor)
	if err != nil {
		return err
	}
	k.describe(r)
	if p.WebhookURL != nil && *p.WebhookURL != "" {
		return k.ensureSecret(ctx, r.Customer)
	}
	return nil
}

func (k *keysCmd) revoke(ctx context.Context, args []string) error {
	id, err := parseWithID(k.flags("revoke"), args)
	if err != nil {
		return err
	}
	r, err := k.svc.Revoke(ctx, id, k.actor)
	if err != nil {
		return err
	}
	fmt.Fprintf(k.out, "revoked %s (%s…, customer %s); servers refuse it within about a second\n", r.ID, r.Display, r.Customer)
	return nil
}

func (k *keysCmd) rotate(ctx context.Context, args []string) error {
	fs := k.flags("rotate")
	grace := fs.String("grace", "24h", "how long the old key keeps working, e.g. 24h or 0s")
	quiet := fs.Bool("q", false, "print only the new key")
	id, err := parseWithID(fs, args)
	if err != nil {
		return err
	}
	g, err := apikey.ParseLifetime(*grace)
	if err != nil || g < 0 {
		return errors.New("--grace must be a duration such as 24h, 7d or 0s")
	}
	c, err := k.svc.Rotate(ctx, id, g, k.actor)
	if err != nil {
		return err
	}
	k.printNew(c, *quiet)
	if !*quiet {
		fmt.Fprintf(k.out, "\nThe old key %s keeps working until %s.\n", id, time.Now().Add(g).Format(time.RFC3339))
	}
	return nil
}

func lifetime(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := apikey.ParseLifetime(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a lifetime such as 90d or 720h", s)
	}
	return d, nil
}

func status(r *apikey.Key, now time.Time) string {
	switch {
	case r.RevokedAt != nil:
		return "revoked"
	case !r.Active(now):
		return "expired"
	case r.ExpiresAt != nil:
		return "active until " + r.ExpiresAt.Format("2006-01-02 15:04")
	}
	return "active"
}

func rateText(n int) string {
	if n == 0 {
		return "default"
	}
	return fmt.Sprint(n)
}

func timeText(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.Format(time.RFC3339)
}

func (k *keysCmd) webhookSecret(ctx context.Context, args []string) error {
	fs := k.flags("webhook-secret")
	customer := fs.String("customer", "", "the customer whose secret to create or rotate (required)")
	grace := fs.Duration("grace", webhook.DefaultGrace, "how long the previous secret also signs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *customer == "" {
		return errors.New("--customer is required")
	}
	hooks, err := k.hooks()
	if err != nil {
		return err
	}
	s, err := hooks.Rotate(ctx, *customer, *grace)
	if err != nil {
		return err
	}
	fmt.Fprintf(k.out, "%s\n\nThe webhook signing secret above is shown only now; give it to the customer.\n", s.Secret)
	if s.PreviousUntil != nil {
		fmt.Fprintf(k.out, "The previous secret also signs until %s.\n", s.PreviousUntil.Format(time.RFC3339))
	}
	return nil
}

// ensureSecret makes a customer's webhook signing secret when a key of
// theirs gets a default webhook URL and they have none (their jobs would
// be refused), and prints it once.
func (k *keysCmd) ensureSecret(ctx context.Context, customer string) error {
	hooks, err := k.hooks()
	if err != nil {
		return err
	}
	s, err := hooks.Ensure(ctx, customer)
	if err != nil || s == nil {
		return err
	}
	fmt.Fprintf(k.out, "\n%s\n\n%s had no webhook signing secret: the one above was made, and is shown only now; give it to the customer.\n", s.Secret, customer)
	return nil
}

// lazySealer builds the webhook service when a key's webhook URL is to be
// sealed, not before.
type lazySealer struct {
	hooks func() (*webhook.Service, error)
}

func (l lazySealer) Seal(ctx context.Context, raw string) (sealed, display string, err error) {
	hooks, err := l.hooks()
	if err != nil {
		return "", "", err
	}
	return hooks.Seal(ctx, raw)
}
