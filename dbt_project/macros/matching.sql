{# Matching keys (int_customers_matched). A company name's key, Unicode-aware and NFKC-like
   on both engines with translate/lower/regexp only (no engine-specific normalize function):
   full-width ASCII and the ideographic space folded to ASCII (NFKC's width folding), lower case
   (case folding, every script; ß -> ss), the punctuation of Latin and CJK text (、。・「」…)
   and whitespace dropped, one legal form dropped (Inc, GmbH, KK, 株式会社, ...), and letters
   and digits of every script kept: two Japanese names keep distinct keys. An empty key is null
   (never equal to another). A backslash is not folded (Snowflake literals read it as an
   escape). Golden cases: golden/matching.yml. #}
{% macro match_name_key(col) -%}
    {%- set width_from = "！＂＃＄％＆＇（）＊＋，－．／０１２３４５６７８９：；＜＝＞？＠ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰＱＲＳＴＵＶＷＸＹＺ［］＾＿｀ａｂｃｄｅｆｇｈｉｊｋｌｍｎｏｐｑｒｓｔｕｖｗｘｙｚ｛｜｝～　 " -%}
    {%- set width_to = "!\"#$%&''()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~  " -%}
    {%- set punct_from = "!\"#$%&''()*+,-./:;<=>?@[]^_`{|}~、。・･「」『』【】〈〉《》〔〕‘’‚‛“”„‟‐‑‒–—―…·«»¿¡®™©" -%}
    {%- set punct_to = "                                                                      " -%}
    {%- set folded = "replace(lower(translate(" ~ col ~ ", '" ~ width_from ~ "', '" ~ width_to ~ "')), 'ß', 'ss')" -%}
    {%- set spaced = "translate(" ~ folded ~ ", '" ~ punct_from ~ "', '" ~ punct_to ~ "')" -%}
    {%- set squeezed = "trim(" ~ regexp_replace_all(spaced, "' +'", "' '") ~ ")" -%}
    {%- set no_legal = regexp_replace_all(
        regexp_replace_all(squeezed, "'(株式会社|有限会社|合同会社|^株 | 株$)'", "''"),
        "' (inc|incorporated|corp|corporation|llc|ltd|limited|plc|gmbh|ag|bv|nv|sa|sas|sarl|srl|sl|spa|kk|co|group|holdings|company|pte|pty|oy|ab)$'",
        "''"
    ) -%}
    nullif(replace(trim({{ no_legal }}), ' ', ''), '')
{%- endmacro %}

{# Upper-case, trimmed code compared as evidence (country, currency); null when empty. #}
{% macro match_code(col) -%}
    nullif(upper(trim({{ col }})), '')
{%- endmacro %}
