package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/avatar-api/avatar-api/internal/app"
	"github.com/avatar-api/avatar-api/internal/runpod"
)

const runpodUsage = `Usage: avatar-api runpod status [--json]
       avatar-api runpod scale --max-workers N

status: the RunPod endpoint's settings (workers min and max) and health
(workers idle, running, initializing, throttled; jobs in RunPod's queue).
scale: set the endpoint's max workers, e.g. to act on a cost alert: no
more than N GPUs run at once; jobs beyond wait in RunPod's queue.

Needs RUNPOD_ENDPOINT_ID and RUNPOD_API_KEY (scale: a key allowed to edit
the endpoint). See docs/runpod.md.`

// runRunPod runs `avatar-api runpod status|scale`.
func runRunPod(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub, args, fs, err := subcommand("runpod", runpodUsage, "status or scale", args, stderr)
	if err != nil {
		return err
	}
	asJSON := fs.Bool("json", false, "print JSON")
	maxWorkers := fs.Int("max-workers", -1, "scale: the endpoint's new max workers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg, _, err := loadConfig(stderr)
	if err != nil {
		return err
	}
	if cfg.RunPodEndpointID == "" || cfg.RunPodAPIKey == "" {
		return errors.New("RUNPOD_ENDPOINT_ID and RUNPOD_API_KEY are needed")
	}
	client, err := app.NewRunPodClient(cfg)
	if err != nil {
		return err
	}
	switch sub {
	case "status":
		ep, err := client.Endpoint(ctx)
		if err != nil {
			return fmt.Errorf("reading the endpoint: %w", err)
		}
		h, err := client.Health(ctx)
		if err != nil {
			return fmt.Errorf("reading the endpoint's health: %w", err)
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(struct {
				Endpoint runpod.Endpoint `json:"endpoint"`
				Health   runpod.Health   `json:"health"`
			}{ep, h})
		}
		printRunPodStatus(stdout, ep, h)
		return nil
	case "scale":
		if *maxWorkers < 0 {
			return errors.New("scale needs --max-workers N (0 or more)")
		}
		before, err := client.Endpoint(ctx)
		if err != nil {
			return fmt.Errorf("reading the endpoint: %w", err)
		}
		after, err := client.SetMaxWorkers(ctx, *maxWorkers)
		if err != nil {
			return fmt.Errorf("setting max workers: %w", err)
		}
		fmt.Fprintf(stdout, "endpoint %s: max workers %d → %d\n", after.ID, before.WorkersMax, after.WorkersMax)
		return nil
	}
	fmt.Fprintln(stderr, runpodUsage)
	return fmt.Errorf("unknown subcommand %q: status or scale", sub)
}

func printRunPodStatus(w io.Writer, ep runpod.Endpoint, h runpod.Health) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "endpoint\t%s (%s)\n", ep.ID, ep.Name)
	fmt.Fprintf(tw, "workers min / max\t%d / %d\n", ep.WorkersMin, ep.WorkersMax)
	wk := h.Workers
	fmt.Fprintf(tw, "workers now\tidle %d, running %d, initializing %d, ready %d, throttled %d, unhealthy %d\n",
		wk.Idle, wk.Running, wk.Initializing, wk.Ready, wk.Throttled, wk.Unhealthy)
	j := h.Jobs
	fmt.Fprintf(tw, "jobs\tin queue %d, in progress %d, completed %d, failed %d, retried %d\n",
		j.InQueue, j.InProgress, j.Completed, j.Failed, j.Retried)
	tw.Flush()
}
