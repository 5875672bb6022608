/* The command-line client of a running daemon: hydra recommendations list|show|approve|reject, hydra ingest. It reads the key
 * from HYDRA_API_KEY (never from the command line, where ps would show it) and talks HTTP through libcurl. */
#ifndef HYDRA_CLIENT_H
#define HYDRA_CLIENT_H

int client_recommendations(int argc, char **argv);
/* hydra ingest FILE.csv [--url URL] [--batch N] [--retries N]: samples to POST /api/v1/ingest/metrics in batches, each with an
 * Idempotency-Key made from its content, retried when the daemon asks to wait. */
int client_ingest(int argc, char **argv);

#endif
