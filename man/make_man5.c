/* make_man5.c — writes loratty.toml(5), in mdoc(7), from the parameter table, so the manual
 * lists exactly the parameters loratty knows, with their defaults, ranges, choices and
 * kohya_ss keys. `make_man5 --list-names` prints the parameter names instead, one a line,
 * for tests/man_lint.sh to compare against the page. Built at `make` time, not installed. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>

#include "params.h"

/* Writes text for a roff text line: backslashes escaped, no leading dot or quote. */
static void put_text(const char *s)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", stdout);
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", stdout);
        else
            putchar(*s);
    }
}

/* A value as it is written in a preset: strings quoted, the rest bare. */
static void put_value(const param *p, const char *v)
{
    switch (p->type) {
    case PARAM_BOOL:
    case PARAM_INT:
    case PARAM_FLOAT:
        put_text(v[0] ? v : "unset");
        break;
    case PARAM_STRING_LIST:
        if (!v[0]) {
            fputs("[]", stdout);
            break;
        }
        /* "a=b c=d" is the list ["a=b", "c=d"] */
        putchar('[');
        for (const char *s = v; *s;) {
            size_t n = strcspn(s, " ");
            printf("%s\\(dq%.*s\\(dq", s == v ? "" : ", ", (int)n, s);
            s += n;
            while (*s == ' ')
                s++;
        }
        putchar(']');
        break;
    default:
        fputs("\\(dq", stdout);
        put_text(v);
        fputs("\\(dq", stdout);
        break;
    }
}

static void put_number(double x)
{
    printf("%g", x);
}

static const char *support_text(param_support s)
{
    switch (s) {
    case SUPPORT_YES: return "supported.";
    case SUPPORT_NOT_YET:
        return "not supported by the engine yet: a file may hold it, but --run refuses a value "
               "other than the default.";
    case SUPPORT_NO_EFFECT: return "accepted for compatibility; it changes nothing in loratty.";
    }
    return "?";
}

static void describe(const param *p)
{
    printf(".It Cm %s Ar %s\n", p->name, params_type_name(p->type));
    put_text(p->help);
    fputs(".\n.br\nDefault: ", stdout);
    put_value(p, p->default_value ? p->default_value : "");
    fputs(".\n", stdout);
    if ((p->type == PARAM_INT || p->type == PARAM_FLOAT) && !(isnan(p->min) && isnan(p->max))) {
        fputs(".br\nRange: ", stdout);
        if (isnan(p->min))
            fputs("at most ", stdout), put_number(p->max);
        else if (isnan(p->max))
            fputs("at least ", stdout), put_number(p->min);
        else
            put_number(p->min), fputs(" to ", stdout), put_number(p->max);
        fputs(".\n", stdout);
    }
    if (p->type == PARAM_CHOICE && p->choices) {
        fputs(".br\nOne of:", stdout);
        for (const char *const *c = p->choices; *c; c++) {
            fputs(c == p->choices ? " " : ", ", stdout);
            fputs("\\(dq", stdout);
            put_text(*c);
            fputs("\\(dq", stdout);
        }
        fputs(p->flags & PARAM_CHOICE_OPEN ? "; other values are allowed.\n" : ".\n", stdout);
    }
    if (p->kohya_key) {
        fputs(".br\nkohya_ss key: ", stdout);
        put_text(p->kohya_key);
        fputs(".\n", stdout);
    }
    if (p->flags & PARAM_LORATTY_ONLY) {
        fputs(".br\nStored in [loratty]", stdout);
        if (p->network_arg)
            printf("; exported as the network argument %s=VALUE", p->network_arg);
        fputs(".\n", stdout);
    }
    unsigned levels = p->flags & (PARAM_DATASET_GENERAL | PARAM_DATASET_DATASET | PARAM_DATASET_SUBSET);
    if (levels) {
        fputs(".br\nDataset config:", stdout);
        const char *sep = " ";
        if (p->flags & PARAM_DATASET_GENERAL)
            printf("%s[general]", sep), sep = ", ";
        if (p->flags & PARAM_DATASET_DATASET)
            printf("%s[[datasets]]", sep), sep = ", ";
        if (p->flags & PARAM_DATASET_SUBSET)
            printf("%s[[datasets.subsets]]", sep);
        fputs(".\n", stdout);
    }
    if (p->applies_when) {
        fputs(".br\nApplies when: ", stdout);
        put_text(p->applies_when);
        fputs(".\n", stdout);
    }
    fputs(".br\nSupport: ", stdout);
    fputs(support_text(p->support), stdout);
    putchar('\n');
}

static void put_date(void)
{
    static const char *const months[] = {"January", "February", "March", "April", "May", "June",
                                         "July", "August", "September", "October", "November",
                                         "December"};
    /* reproducible builds pin the date */
    const char *epoch = getenv("SOURCE_DATE_EPOCH");
    time_t t = epoch ? (time_t)strtoll(epoch, NULL, 10) : time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    printf(".Dd %s %d, %d\n", months[tm.tm_mon], tm.tm_mday, tm.tm_year + 1900);
}

static const char head[] =
    ".Dt LORATTY.TOML 5\n"
    ".Os\n"
    ".Sh NAME\n"
    ".Nm loratty.toml\n"
    ".Nd loratty training presets\n"
    ".Sh SYNOPSIS\n"
    ".Bd -literal\n"
    "[accelerate]  [model]  [folders]  [metadata]\n"
    "[basic]  [advanced]  [samples]  [loratty]\n"
    "[general]  [[datasets]]  [[datasets.subsets]]\n"
    ".Ed\n"
    ".Sh DESCRIPTION\n"
    "A loratty preset is a TOML 1.0 file holding the settings of one LoRA training run.\n"
    "Its tables follow the sections of the kohya_ss GUI's LoRA tab:\n"
    ".Bl -tag -width \"[accelerate]\" -compact\n"
    ".It Bq accelerate\n"
    "Accelerate launch\n"
    ".It Bq model\n"
    "Model\n"
    ".It Bq folders\n"
    "Folders\n"
    ".It Bq metadata\n"
    "Metadata\n"
    ".It Bq basic\n"
    "Parameters > Basic\n"
    ".It Bq advanced\n"
    "Parameters > Advanced\n"
    ".It Bq samples\n"
    "Parameters > Samples\n"
    ".It Bq loratty\n"
    "settings of the GUI that are not sd-scripts arguments\n"
    ".El\n"
    ".Pp\n"
    "Keys are sd-scripts argument names (argparse destinations).\n"
    "Because sd-scripts' --config_file flattens one level of tables, a preset is also a\n"
    "valid configuration file for sd-scripts' train_network.py and\n"
    "sdxl_train_network.py, which ignore the [loratty] table.\n"
    "Settings that kohya_ss turns into something else before calling sd-scripts, such as\n"
    "the LoRA type (network_module and network_args), the warm-up percentage or the sample\n"
    "prompts, keep their own names and live in [loratty]; loratty's exporter translates\n"
    "them as kohya_ss does.\n"
    "A key in the wrong table or an unknown key is an error that names the right table or\n"
    "the nearest known key.\n"
    "Keys left out take the kohya_ss GUI defaults listed below.\n"
    ".Pp\n"
    "The images are given either by train_data_dir and reg_data_dir, folders of\n"
    ".Pa <repeats>_<class tokens>\n"
    "subfolders, or by the tables of sd-scripts' dataset config, inline in the preset:\n"
    "[general] for values shared by all datasets, an array of [[datasets]], each with an\n"
    "array of [[datasets.subsets]].\n"
    "A separate dataset TOML may be named by dataset_config instead.\n"
    "The levels at which each dataset key is allowed are given below; a value at a lower\n"
    "level overrides the one above it, and the training parameters of the same name are\n"
    "the last fallback.\n"
    ".Pp\n"
    "loratty writes presets with a comment above each key, its help text, and keeps the\n"
    "comments of presets it reads when it saves them again.\n"
    "Only values that differ from the defaults are saved.\n"
    "kohya_ss's saved JSON configurations and its config_lora-*.toml run files can be\n"
    "imported with\n"
    ".Fl Fl import ;\n"
    "the kohya_ss key of each parameter is given below.\n"
    ".Pp\n"
    "Types: bool is true or false; int and float are TOML numbers; string, text (several\n"
    "lines), file, dir and choice are TOML strings; list is an array of strings, usually\n"
    "key=value pairs.\n"
    "An empty string means unset.\n";

static const char tail[] =
    ".Sh SAMPLE PROMPTS\n"
    "sample_prompts holds one prompt per line, as sd-scripts' prompt file: empty lines and\n"
    "lines that start with # are skipped, and options may follow the prompt:\n"
    ".Fl -n Ar negative prompt ,\n"
    ".Fl -w Ar width ,\n"
    ".Fl -h Ar height ,\n"
    ".Fl -d Ar seed ,\n"
    ".Fl -l Ar guidance scale ,\n"
    ".Fl -s Ar steps ,\n"
    ".Fl -ss Ar sampler .\n"
    ".Pp\n"
    "Prompts and negative prompts take attention weights as sd-scripts reads them\n"
    "(its parse_prompt_attention, AUTOMATIC1111's syntax of 2022):\n"
    ".Bl -tag -width Ds\n"
    ".It Li (text)\n"
    "multiplies the weight of text by 1.1; nested brackets multiply again\n"
    ".It Li [text]\n"
    "divides it by 1.1\n"
    ".It Li (text:1.3)\n"
    "multiplies it by 1.3\n"
    ".It Li \\e( \\e) \\e[ \\e] \\e\\e\n"
    "are the characters themselves; a lone backslash is dropped\n"
    ".El\n"
    ".Pp\n"
    "A bracket left open weighs to the end of the prompt, a closing bracket without its\n"
    "opener is plain text, a weight that is not a number is an error, and there is no BREAK\n"
    "keyword.\n"
    "Each weighted piece is tokenized on its own and the text encoder states of its tokens\n"
    "are multiplied by its weight.\n"
    "For SD 1.x and 2.x models the states are then rescaled to their mean before the\n"
    "weighting, and a prompt may have up to 225 tokens whatever max_token_length says: the\n"
    "longer of prompt and negative prompt decides how many 75-token windows both get, as in\n"
    "sd-scripts' long-prompt-weighting pipeline.\n"
    "SDXL samples follow max_token_length and are not rescaled, as sd-scripts draws them.\n"
    ".Pp\n"
    "With weighted_captions the captions are read the same way, without rescaling and within\n"
    "max_token_length.\n"
    "shuffle_caption and the tag dropouts cut captions at commas first, so a bracket that\n"
    "holds a comma can lose its other half, as in sd-scripts.\n"
    ".Sh EXAMPLES\n"
    "An SD1.5 LoRA on a kohya-style image folder:\n"
    ".Bd -literal -offset indent\n"
    "[model]\n"
    "pretrained_model_name_or_path = \"models/v1-5-pruned-emaonly.safetensors\"\n"
    "train_data_dir = \"data/img\"\n"
    "output_name = \"my-lora\"\n"
    "\n"
    "[folders]\n"
    "output_dir = \"out\"\n"
    "\n"
    "[basic]\n"
    "network_dim = 16\n"
    "network_alpha = 8.0\n"
    "learning_rate = 0.0001\n"
    "optimizer_type = \"AdamW\"\n"
    "max_train_epochs = 10\n"
    "resolution = \"512,512\"\n"
    "\n"
    "[loratty]\n"
    "lora_type = \"Kohya LoCon\"\n"
    "conv_dim = 8\n"
    "conv_alpha = 4.0\n"
    "sample_prompts = \"\"\"\n"
    "a photo of sks dog --w 512 --h 512 --s 28\n"
    "\"\"\"\n"
    ".Ed\n"
    ".Pp\n"
    "The same images described by an inline dataset config, with a regularisation subset:\n"
    ".Bd -literal -offset indent\n"
    "[general]\n"
    "shuffle_caption = true\n"
    "caption_extension = \".txt\"\n"
    "\n"
    "[[datasets]]\n"
    "resolution = 512\n"
    "batch_size = 2\n"
    "\n"
    "  [[datasets.subsets]]\n"
    "  image_dir = \"data/img/10_sks dog\"\n"
    "  class_tokens = \"sks dog\"\n"
    "  num_repeats = 10\n"
    "\n"
    "  [[datasets.subsets]]\n"
    "  image_dir = \"data/reg/1_dog\"\n"
    "  class_tokens = \"dog\"\n"
    "  is_reg = true\n"
    ".Ed\n"
    ".Sh SEE ALSO\n"
    ".Xr loratty 1\n";

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--list-names") == 0) {
        for (size_t i = 0; i < params_count; i++)
            puts(params_table[i].name);
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "usage: make_man5 [--list-names]\n");
        return 2;
    }
    put_date();
    fputs(head, stdout);
    for (int s = 0; s < SECTION_COUNT; s++) {
        printf(".Ss %s", params_section_title((param_section)s));
        if (s == SECTION_DATASET)
            fputs(": [general], [[datasets]], [[datasets.subsets]]\n", stdout);
        else
            printf(": [%s]\n", params_section_table((param_section)s));
        bool loratty_only = false;
        for (size_t i = 0; i < params_count; i++)
            loratty_only |= params_table[i].section == (param_section)s
                            && (params_table[i].flags & PARAM_LORATTY_ONLY);
        if (s == SECTION_DATASET)
            fputs("These keys exist only in the dataset tables.\n", stdout);
        else if (loratty_only)
            fputs("Parameters marked as stored in [loratty] are listed with their GUI section "
                  "but written to the [loratty] table.\n", stdout);
        fputs(".Bl -tag -width Ds\n", stdout);
        for (size_t i = 0; i < params_count; i++)
            if (params_table[i].section == (param_section)s)
                describe(&params_table[i]);
        fputs(".El\n", stdout);
    }
    fputs(tail, stdout);
    return ferror(stdout) ? 1 : 0;
}
