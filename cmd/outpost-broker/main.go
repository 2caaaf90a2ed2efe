// Command outpost-broker runs the embedded message brokers of
// testenv/brokers as a standalone process for the demo: a NATS server with
// JetStream and an in-process Kafka-protocol broker (kfake), both on
// 127.0.0.1 by default. It prints one line per broker with its address and
// runs until SIGINT or SIGTERM.
//
//	outpost-broker [-nats ADDR] [-nats-store DIR] [-kafka ADDR] [-kafka-data DIR] [-kafka-topics T1,T2] [-v]
//
// An empty address disables that broker. Without -nats-store / -kafka-data
// the data lives in a temporary directory removed at exit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/outpost-authz/outpost/testenv/brokers"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run starts the brokers the flags ask for, prints their addresses, and
// stops them when ctx is done. It returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("outpost-broker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	natsAddr := fs.String("nats", "127.0.0.1:4222", "NATS listen `address` (host:port); empty disables NATS")
	natsStore := fs.String("nats-store", "", "JetStream store `dir`ectory (default: a temporary directory removed at exit)")
	kafkaAddr := fs.String("kafka", "127.0.0.1:9092", "Kafka listen `address` (host:port); empty disables Kafka")
	kafkaData := fs.String("kafka-data", "", "Kafka data `dir`ectory (default: a temporary directory removed at exit)")
	kafkaTopics := fs.String("kafka-topics", "", "comma-separated `topics` to create, one partition each")
	verbose := fs.Bool("v", false, "log the brokers' own messages to stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "outpost-broker: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *natsAddr == "" && *kafkaAddr == "" {
		fmt.Fprintln(stderr, "outpost-broker: both brokers disabled; nothing to run")
		return 2
	}
	var logger *slog.Logger
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}

	if *natsAddr != "" {
		n, err := brokers.StartNATS(brokers.NATSConfig{Addr: *natsAddr, StoreDir: *natsStore, Logger: logger})
		if err != nil {
			fmt.Fprintf(stderr, "outpost-broker: start nats: %v\n", err)
			return 1
		}
		defer n.Close()
		fmt.Fprintf(stdout, "nats %s store=%s\n", n.URL(), n.StoreDir())
	}
	if *kafkaAddr != "" {
		k, err := brokers.StartKafka(brokers.KafkaConfig{Addr: *kafkaAddr, DataDir: *kafkaData, Logger: logger})
		if err != nil {
			fmt.Fprintf(stderr, "outpost-broker: start kafka: %v\n", err)
			return 1
		}
		defer k.Close()
		var topics []string
		for _, t := range strings.Split(*kafkaTopics, ",") {
			if t = strings.TrimSpace(t); t == "" {
				continue
			}
			if err := k.CreateTopic(t, 1); err != nil {
				fmt.Fprintf(stderr, "outpost-broker: %v\n", err)
				return 1
			}
			topics = append(topics, t)
		}
		fmt.Fprintf(stdout, "kafka %s data=%s topics=%s\n", k.Addr(), k.DataDir(), strings.Join(topics, ","))
	}

	<-ctx.Done()
	fmt.Fprintln(stderr, "outpost-broker: shutting down")
	return 0
}
