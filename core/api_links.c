/* The signed links notifications carry: opening one (GET) shows what it would decide and asks to confirm; only the
 * confirmation (POST) decides, so a mail scanner or a chat preview that fetches the link decides nothing. The
 * signature is the authority, in place of an API key; the decision goes through the store's compare-and-set like any
 * other, so a link used twice, or after someone else answered, decides nothing more. */
#include "daemon_app.h"

#include "links.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REASON_MAX 400

/* ## A small HTML page -------------------------------------------------------------------------------------------- */

static void put_escaped(FILE *out, const char *text)
{
    for (; text && *text; text++) {
        switch (*text) {
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(*text, out);
        }
    }
}

typedef struct page {
    FILE *out;
    char *text;
    size_t size;
} page;

static void page_open(page *p, const char *title)
{
    p->text = NULL;
    p->out = open_memstream(&p->text, &p->size);
    fputs("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>hydra: ",
          p->out);
    put_escaped(p->out, title);
    fputs("</title><style>body{font-family:sans-serif;max-width:36em;margin:2em auto;padding:0 1em;line-height:1.4}"
          "button{font-size:1.1em;padding:.5em 1em}textarea{width:100%}</style></head><body><h1>",
          p->out);
    put_escaped(p->out, title);
    fputs("</h1>", p->out);
}

static void page_paragraph(page *p, const char *text)
{
    fputs("<p>", p->out);
    put_escaped(p->out, text);
    fputs("</p>", p->out);
}

static void page_send(page *p, http_response *response, int status)
{
    fputs("</body></html>\n", p->out);
    fclose(p->out);
    response->status = status;
    response->text = p->text;
    response->text_type = "text/html; charset=utf-8";
}

static void answer(http_response *response, int status, const char *title, const char *text)
{
    page p;
    page_open(&p, title);
    page_paragraph(&p, text);
    page_send(&p, response, status);
}

/* ## The form's one field ----------------------------------------------------------------------------------------- */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The value of `name` in an application/x-www-form-urlencoded body, decoded into out; false when absent. */
static bool form_value(const char *body, size_t length, const char *name, char *out, size_t size)
{
    size_t name_length = strlen(name), at = 0;
    while (at < length) {
        size_t end = at;
        while (end < length && body[end] != '&')
            end++;
        if (end - at > name_length && memcmp(body + at, name, name_length) == 0 && body[at + name_length] == '=') {
            size_t used = 0;
            for (size_t i = at + name_length + 1; i < end && used + 1 < size; i++) {
                char c = body[i];
                if (c == '+') {
                    c = ' ';
                } else if (c == '%' && i + 2 < end && hex_value(body[i + 1]) >= 0 && hex_value(body[i + 2]) >= 0) {
                    c = (char)(hex_value(body[i + 1]) * 16 + hex_value(body[i + 2]));
                    i += 2;
                }
                out[used++] = c;
            }
            out[used] = '\0';
            return true;
        }
        at = end + 1;
    }
    return false;
}

/* ## The route ---------------------------------------------------------------------------------------------------- */

static const char *what_it_does(const recommendation *rec, char *buffer, size_t size)
{
    format_into(buffer, size, "scale %s from %d to %d replicas", rec->target, rec->from_replicas, rec->to_replicas);
    return buffer;
}

static void show_confirmation(http_response *response, const recommendation *rec, bool approve)
{
    char title[256], what[200];
    format_into(title, sizeof title, "%s: %s?", approve ? "Approve" : "Reject", what_it_does(rec, what, sizeof what));
    page p;
    page_open(&p, title);
    page_paragraph(&p, rec->reason);
    fputs("<form method=\"post\">", p.out);
    if (!approve)
        fputs("<p><label for=\"reason\">Why not (recorded with the decision)</label><br>"
              "<textarea id=\"reason\" name=\"reason\" rows=\"3\" maxlength=\"400\"></textarea></p>",
              p.out);
    fprintf(p.out, "<p><button type=\"submit\">%s</button></p></form>", approve ? "Approve" : "Reject");
    page_send(&p, response, 200);
}

void api_handle_link(void *context, const http_request *request, http_response *response)
{
    daemon_app *app = context;
    const char *id = request->params[0];
    const char *action = http_query(request, "action");
    const char *tenant = http_query(request, "tenant");
    link_check check = link_verify(&app->links, action, tenant, id, http_query(request, "expires"),
                                   http_query(request, "signature"), clock_now(&app->clock));
    if (check != LINK_VALID) {
        static const int statuses[] = {[LINK_MALFORMED] = 400, [LINK_BAD_SIGNATURE] = 403, [LINK_EXPIRED] = 410};
        answer(response, statuses[check], "This link cannot decide anything", link_check_text(check));
        return;
    }
    char text[REC_TEXT_MAX + 200], what[200];
    if (strcmp(tenant, app->store.config.tenant) != 0) {
        format_into(text, sizeof text, "No recommendation %s here.", id);
        answer(response, 404, "Not found", text);
        return;
    }
    bool approve = strcmp(action, "approve") == 0;
    recommendation rec;
    int found = daemon_read_recommendation(app, id, &rec);
    if (found != 0) {
        format_into(text, sizeof text, found > 0 ? "No recommendation %s here." : "The store cannot be read now.", id);
        answer(response, found > 0 ? 404 : 503, found > 0 ? "Not found" : "Try again shortly", text);
        return;
    }
    if (rec.state != REC_PENDING) {
        format_into(text, sizeof text, "It is %s%s%s: nothing was changed by this link.",
                    recommendation_state_name(rec.state), rec.decided_by[0] ? ", decided by " : "", rec.decided_by);
        answer(response, 409, what_it_does(&rec, what, sizeof what), text);
        return;
    }
    if (strcmp(request->method, "GET") == 0) {
        show_confirmation(response, &rec, approve);
        return;
    }
    char reason[REASON_MAX + 1] = "";
    if (!form_value(request->body, request->body_length, "reason", reason, sizeof reason) || !reason[0])
        format_into(reason, sizeof reason, "%s from a notification link", approve ? "approved" : "rejected");
    char state[32] = "";
    int status = daemon_decide(app, id, approve, "link", reason, request->request_id, state, sizeof state);
    if (status == 200)
        format_into(text, sizeof text, "%s. The recommendation is now %s.", approve ? "Approved" : "Rejected", state);
    else if (status == 409)
        format_into(text, sizeof text, "Someone answered first: it is %s. Nothing was changed by this link.", state);
    else if (status == 404)
        format_into(text, sizeof text, "No recommendation %s here.", id);
    else
        format_into(text, sizeof text, "The decision could not be recorded now; nothing was changed. Try again soon.");
    answer(response, status == 500 ? 503 : status, what_it_does(&rec, what, sizeof what), text);
}
