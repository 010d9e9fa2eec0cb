package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stsrotator/stsrotator/internal/localstack"
	"github.com/stsrotator/stsrotator/shared/humantime"
)

func main() {
	t0 := time.Now()
	// `make local` passes its own start so the first-mint time includes
	// the build steps it ran.
	if ns, err := strconv.ParseInt(os.Getenv(envT0), 10, 64); err == nil {
		t0 = time.Unix(0, ns)
	}
	port := flag.Int("port", 4566, "loopback port the emulator listens on")
	assembly := flag.String("assembly", "cdk.out", "synthesized cloud assembly (make synth)")
	once := flag.Bool("once", false, "run the scripted demo, then stop instead of waiting for Ctrl-C")
	verbose := flag.Bool("verbose", false, "print the functions' JSON logs too (default: .local/functions.log)")
	bin := flag.String("bin", "", "directory of the host binaries already built (rotator, reactor, stsrotator); default: build them into .local/bin")
	check := flag.Bool("check", false, "only check that no other run holds this checkout's .local, then exit (make local runs it before a synth could rewrite the assembly a running stack uses)")
	flag.Parse()

	if *check {
		if err := checkFree(); err != nil {
			fmt.Fprintln(os.Stderr, "stsrotator-local:", err)
			os.Exit(1)
		}
		return
	}

	// kumo reads KUMO_PORT once, when the process starts, to address
	// EventBridge → Lambda deliveries, and logs every delivery to stdout
	// from its own handler. So the work happens in a child started with
	// KUMO_PORT set, whose stdout passes through a filter that keeps the
	// narration readable.
	if os.Getenv(childMarker) == "" {
		os.Exit(supervise(t0, *port, *verbose))
	}
	if err := run(t0, *port, *assembly, *bin, *once, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "stsrotator-local:", err)
		os.Exit(1)
	}
}

const childMarker = "STSROTATOR_LOCAL_CHILD"

// envT0 carries the start time (Unix nanoseconds) from `make local` to this
// process and from it to its child.
const envT0 = "STSROTATOR_LOCAL_T0"

func supervise(t0 time.Time, port int, verbose bool) int {
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), childMarker+"=1", "KUMO_PORT="+strconv.Itoa(port), fmt.Sprintf("%s=%d", envT0, t0.UnixNano()))
	cmd.Stdin, cmd.Stderr = os.Stdin, os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Ctrl-C reaches the child through the process group; it shuts down.
	signal.Ignore(os.Interrupt, syscall.SIGTERM)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// The emulator's own log lines (deliveries to Lambda and SQS, at
	// INFO) are not the story: they go to .local/emulator.log, opened on
	// the first one, when the child has long cleared .local.
	var emuLog *os.File
	defer func() {
		if emuLog != nil {
			_ = emuLog.Close()
		}
	}()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if emulatorLine(line) && !verbose {
			if emuLog == nil {
				emuLog, _ = os.OpenFile(filepath.Join(".local", emulatorLogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			}
			if emuLog != nil {
				fmt.Fprintln(emuLog, line)
			}
			continue
		}
		fmt.Println(line)
	}
	if err := cmd.Wait(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// emulatorLogFile, in .local, holds the emulator's log lines.
const emulatorLogFile = "emulator.log"

// reLogLine matches what a logger prints: slog's text handler
// (time=… level=…) and the standard log package (2006/01/02 15:04:05 …).
// Narration lines start with "[15:04:05.000]" or an indent.
var reLogLine = regexp.MustCompile(`^(time=\S+ level=|\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} )`)

func emulatorLine(line string) bool { return reLogLine.MatchString(line) }

// checkFree claims and releases the working directory's .local, so a
// second `make local` stops before its synth, not after.
func checkFree() error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	release, err := localstack.ClaimWorkDir(filepath.Join(root, ".local"))
	if err != nil {
		return err
	}
	return release()
}

// clearWorkDir removes everything in work but the lock this run holds.
func clearWorkDir(work string) error {
	entries, err := os.ReadDir(work)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == localstack.LockFile {
			continue
		}
		if err := os.RemoveAll(filepath.Join(work, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func run(t0 time.Time, port int, assembly, bin string, once, verbose bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	work := filepath.Join(root, ".local")
	// One run per checkout: a second one used to delete the first's
	// binaries and dev clock. It is refused before it touches anything.
	release, err := localstack.ClaimWorkDir(work)
	if err != nil {
		return err
	}
	defer release()
	// What a crashed earlier run left behind is ours to clear now.
	if err := clearWorkDir(work); err != nil {
		return err
	}
	var fnLog io.Writer = os.Stderr
	if !verbose {
		f, err := os.Create(filepath.Join(work, "functions.log"))
		if err != nil {
			return err
		}
		defer f.Close()
		fnLog = f
	}
	// kumo logs each delivery through slog's default logger; those lines
	// belong with the functions' logs, not in the narration.
	slog.SetDefault(slog.New(slog.NewTextHandler(fnLog, nil)))
	n := &localstack.Narrator{Out: os.Stdout}
	if bin == "" {
		n.Say("building the functions and the CLI for this machine (first run about 60 s), then starting the emulator (kumo) on 127.0.0.1:%d", port)
	} else {
		n.Say("starting the emulator (kumo) on 127.0.0.1:%d and the functions, as synthesized", port)
	}
	s, err := localstack.Start(ctx, localstack.Options{Root: root, Assembly: assembly, Port: port, WorkDir: work, FunctionLog: fnLog, BinDir: bin, Once: once})
	if err != nil {
		return err
	}
	n.Stack = s
	closeStack := func() error {
		if err := s.Close(); err != nil {
			return err
		}
		n.Say("stopped: functions and emulator shut down")
		return nil
	}
	n.Say("up: %s in Secrets Manager, %s, %s ticking every %s, the reactor and the alert topic, as cdk synth laid them out",
		count(len(s.Assembly.Secrets), "secret"), count(len(s.Assembly.Rules), "EventBridge rule"), count(len(s.Assembly.Lanes), "rotator function"),
		humantime.Span(s.Assembly.Lanes[0].Every))
	res, err := localstack.Demo(ctx, s, os.Stdout, t0)
	if err != nil {
		_ = closeStack()
		return err
	}
	if once {
		return closeStack()
	}

	// The clock is not set back to now: the script's versions carry
	// IssuedAt on the moved clock, and seen from an earlier one they
	// would look written in the future, which holds their rotation back
	// past expiry (the engine's one-write-per-10-minutes guard). So the
	// functions' clock keeps its lead and runs on from there.
	ahead := humantime.Span(s.Offset())
	every := s.Assembly.Lanes[0].Every
	n.Say("from here the demo clock (the functions', and the CLI's with the export line below) runs %s ahead of yours and never back; the schedule ticks now and every %s", ahead, humantime.Span(every))
	// A tick right away: the script leaves some targets minutes from
	// expiry on the functions' clock, and they are due now, not in a
	// schedule period. A failure is narrated; the ticks retry.
	_, _ = n.Sweep(ctx)
	n.PrintTry(res)
	n.Say("Ctrl-C stops everything")

	go func() {
		for ctx.Err() == nil {
			text, ok, err := s.NextAlert(ctx, 20*time.Second)
			if err != nil || !ok {
				continue
			}
			n.Say("alert:")
			for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
				fmt.Printf("    │ %s\n", line)
			}
		}
	}()
	// What the reactor decides for each report, one sent from another
	// shell included.
	go func() {
		for ctx.Err() == nil {
			if d, ok := s.NextDecision(ctx, time.Minute); ok {
				n.Say("%s", d.Describe())
			}
		}
	}()
	// Every lifecycle event the functions publish, as it arrives (the
	// event inbox is a rule on the default bus feeding a queue).
	go func() {
		for ctx.Err() == nil {
			evs, err := s.Events(ctx, 20*time.Second)
			if err != nil {
				continue
			}
			for _, e := range evs {
				n.Say("event %s", e.Describe())
			}
		}
	}()
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Println()
			return closeStack()
		case <-ticker.C:
			// A failed tick is narrated; the next one tries again, as
			// the schedule would.
			_, _ = n.Sweep(ctx)
		}
	}
}

// count is n and noun, plural when n is not 1: "3 secrets", "1 EventBridge rule".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
