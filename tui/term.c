/* term.c — terminal capability detection (DA1 for sixel, XTWINOPS for cell pixels) and the
 * overlay writer for output that must bypass narrow curses (braille plots, images).
 *
 * Queries go out as `CSI 16 t`, `CSI 14 t`, then DA1 `CSI c` last: every terminal answers DA1,
 * so once its reply is in, any query still unanswered is unsupported. */
#include "tui/term.h"

#include <curses.h>

#include <errno.h>
#include <langinfo.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* Parses decimal parameters separated by ';' up to the final byte; returns the index of the
 * final byte or `len` when the sequence is incomplete. */
static size_t csi_params(const unsigned char *buf, size_t len, size_t i, int *params,
                         int max, int *count)
{
    int n = 0;
    long cur = 0;
    bool have = false;
    for (; i < len; i++) {
        unsigned char c = buf[i];
        if (c >= '0' && c <= '9') {
            if (cur < 100000000)
                cur = cur * 10 + (c - '0');
            have = true;
        } else if (c == ';' || c == ':') {
            if (n < max)
                params[n++] = (int)cur;
            cur = 0;
            have = false;
        } else if (c >= 0x40 && c <= 0x7E) {
            if ((have || n > 0) && n < max)
                params[n++] = (int)cur;
            *count = n;
            return i;
        } else if (c < 0x20 || c > 0x3F) {
            break;   /* not a CSI byte: malformed */
        }
    }
    *count = n;
    return len;
}

bool term_parse_replies(const unsigned char *buf, size_t len, term_caps *caps)
{
    bool da1 = false;
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] != 0x1b || buf[i + 1] != '[')
            continue;
        size_t j = i + 2;
        bool private = j < len && buf[j] == '?';
        if (private)
            j++;
        int params[16], n = 0;
        size_t fin = csi_params(buf, len, j, params, 16, &n);
        if (fin >= len)
            break;
        unsigned char f = buf[fin];
        if (f == 'c' && private) {
            da1 = true;
            caps->da1_seen = true;
            caps->da1_count = n;
            memcpy(caps->da1_params, params, (size_t)n * sizeof *params);
            /* the first number is the terminal class (62, 64, 1...); 4 among the
             * attributes after it means sixel graphics */
            for (int k = 1; k < n; k++)
                if (params[k] == 4)
                    caps->sixel = true;
        } else if (f == 't' && !private && n == 3 && params[1] > 0 && params[2] > 0) {
            if (params[0] == 6)
                caps->cell_h = params[1], caps->cell_w = params[2];
            else if (params[0] == 4)
                caps->win_h = params[1], caps->win_w = params[2];
        }
        i = fin;
    }
    return da1;
}

int term_sixel_mode_parse(const char *text)
{
    if (!text)
        return -1;
    if (!strcasecmp(text, "auto"))
        return TERM_SIXEL_AUTO;
    if (!strcasecmp(text, "on") || !strcasecmp(text, "yes") || !strcasecmp(text, "always"))
        return TERM_SIXEL_ON;
    if (!strcasecmp(text, "off") || !strcasecmp(text, "no") || !strcasecmp(text, "never"))
        return TERM_SIXEL_OFF;
    return -1;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

void term_detect(int fd, term_sixel_mode mode, int timeout_ms, term_caps *caps)
{
    memset(caps, 0, sizeof *caps);
    const char *cs = nl_langinfo(CODESET);
    caps->utf8 = cs && (!strcasecmp(cs, "UTF-8") || !strcasecmp(cs, "utf8"));
    const char *nc = getenv("NO_COLOR");
    caps->color = !(nc && *nc);
    if (mode == TERM_SIXEL_OFF || !isatty(fd))
        goto done;

    struct termios saved, raw;
    if (tcgetattr(fd, &saved) < 0)
        goto done;
    raw = saved;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(fd, TCSANOW, &raw) < 0)
        goto done;
    static const char query[] = "\x1b[16t\x1b[14t\x1b[c";
    if (write(fd, query, sizeof query - 1) == (ssize_t)(sizeof query - 1)) {
        unsigned char buf[512];
        size_t len = 0;
        long end = now_ms() + timeout_ms;
        for (;;) {
            long left = end - now_ms();
            if (left <= 0 || len == sizeof buf)
                break;
            struct pollfd p = {fd, POLLIN, 0};
            int r = poll(&p, 1, (int)left);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            ssize_t got = read(fd, buf + len, sizeof buf - len);
            if (got <= 0)
                break;
            len += (size_t)got;
            term_caps probe = *caps;
            if (term_parse_replies(buf, len, &probe))
                break;
        }
        term_parse_replies(buf, len, caps);
        /* what is not a control sequence (the replies are CSI ... c / t) was typed */
        for (size_t i = 0; i < len; i++) {
            if (buf[i] == 0x1b && i + 1 < len && buf[i + 1] == '[') {
                i += 2;
                while (i < len && !(buf[i] >= 0x40 && buf[i] <= 0x7e))
                    i++;
                continue;
            }
            if (buf[i] != 0x1b && caps->typeahead_len < (int)sizeof caps->typeahead)
                caps->typeahead[caps->typeahead_len++] = buf[i];
        }
    }
    tcsetattr(fd, TCSANOW, &saved);
done:
    if (mode == TERM_SIXEL_ON)
        caps->sixel = true;
    else if (mode == TERM_SIXEL_OFF)
        caps->sixel = false;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int term_overlay(int fd, int row, int col, const char *bytes, size_t len)
{
    char pre[32];
    int n = snprintf(pre, sizeof pre, "\x1b" "7\x1b[%d;%dH", row + 1, col + 1);
    if (write_all(fd, pre, (size_t)n) < 0 || write_all(fd, bytes, len) < 0)
        return -1;
    return write_all(fd, "\x1b" "8", 2);
}

void term_fix_line_drawing(bool utf8)
{
    const char *term = getenv("TERM");
    if (!utf8 || !term || getenv("NCURSES_NO_UTF8_ACS"))
        return;
    if (strncmp(term, "tmux", 4) != 0 && strncmp(term, "screen", 6) != 0 && strncmp(term, "linux", 5) != 0)
        return;
    static const char corners[] = "lkmjtuvwn";   /* ┌ ┐ └ ┘ ├ ┤ ┴ ┬ ┼ */
    for (const char *c = corners; *c; c++)
        acs_map[(unsigned char)*c] = '+';
    acs_map['q'] = '-';
    acs_map['x'] = '|';
}
