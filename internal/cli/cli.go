// Package cli holds the avatar-api commands, one file each.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"serve", "run the HTTP API (and, by default, the job workers)", runServe},
	{"worker", "run job workers only, taking jobs from the shared queue (--runpod: a RunPod serverless worker)", runWorker},
	{"runpod", "the RunPod endpoint: status (workers, queue) and scale --max-workers N", runRunPod},
	{"migrate", "bring the database schema up to date and exit", runMigrate},
	{"generate", "make one video locally, without a server (--image, --audio, -o)", runGenerate},
	{"submit", "a customer's command: send a portrait and speech to a server (--server, --image, --audio; key in AVATAR_API_KEY), follow the job, save the MP4", runSubmit},
	{"keys", "create, list, show, update, revoke and rotate customers' API keys", runKeys},
	{"alerts", "alert channels and state: test [--channel webhook|email] sends a test alert; list shows rules, alerts and deliveries", runAlerts},
	{"report", "usage report from the database: totals, top customers, errors, slowest jobs (--since 24h, --json)", runReport},
	{"health", "exit 0 if the local API's GET /health answers 200, else 1 (--url for another, e.g. a worker's); the image's HEALTHCHECK", runHealth},
	{"version", "print the version and commit this binary was built from", runVersion},
}

// Run runs the command named by args[0] and returns the exit code.
func Run(args []string) int {
	return run(args, os.Stdout, os.Stderr)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		go func() {
			<-ctx.Done()
			stop() // a second signal now ends the process at once
		}()
		err := c.run(ctx, args[1:], stdout, stderr)
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if err != nil {
			fmt.Fprintf(stderr, "avatar-api %s: %v\n", c.name, err)
			if ctx.Err() != nil {
				return 130 // stopped by a signal, as shells report an interrupt
			}
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "avatar-api: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: avatar-api <command> [flags]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nConfiguration comes from environment variables; see docs/configuration.md.")
}

// noFlags parses the arguments of a command that takes no flags (its
// settings are environment variables), so that -h works and typos fail.
func noFlags(name string, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: avatar-api %s\n\nConfigured by environment variables; see docs/configuration.md.\n", name)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}
