{# Point in time (docs/close.md): with the var `known_as_of` (an ISO instant, UTC; default null =
   everything landed), every staging model keeps only the rows known at that instant, by the
   vendor's own modification stamp:

   - crm (Salesforce): SystemModstamp (else LastModifiedDate, CreatedDate);
   - billing (Stripe): the latest of `created` and the event times the object carries
     (`updated`, `status_transitions.*_at`, `canceled_at`, `ended_at`): an object that changed
     after the instant was not yet in that state then;
   - erp (NetSuite): lastmodifieddate (a line's linelastmodifieddate, else datecreated).

   A record without a stamp of its own is known with its parent (`parent`, `parent_key`: a
   Stripe invoice line with its invoice). Raw tables keep one version per record, so a record
   modified after the instant is absent at it, not shown as it was then.

   Used once in every staging model, on its raw source:
     select * from {{ source(...) }} where {{ point_in_time(cols, 'billing') }}
#}

{% macro known_as_of() -%}
    {%- set at = var('known_as_of', none) -%}
    {{ return(at if at else none) }}
{%- endmacro %}

{% macro known_as_of_timestamp() -%}
    {{ return("cast('" ~ (known_as_of() | string | replace("'", "''") | replace('T', ' ') | replace('Z', '')) ~ "' as timestamp)") }}
{%- endmacro %}

{% macro point_in_time(cols, vendor, parent=none, parent_key=none, alias=none) -%}
    {%- if known_as_of() is none -%}
        {{ return('true') }}
    {%- endif -%}
    {%- set bound = known_as_of_timestamp() -%}
    {%- set prefix = (alias ~ '.') if alias else '' -%}
    {%- if parent is not none -%}
        {{ return(prefix ~ parent_key ~ ' in (select known_parent.id from ' ~ parent ~ ' as known_parent where '
            ~ point_in_time(raw_columns(parent), vendor, alias='known_parent') ~ ')') }}
    {%- endif -%}
    {%- set present = cols or [] -%}
    {%- if vendor == 'billing' -%}
        {%- set events = [] -%}
        {%- for name in ['updated', 'status_transitions__finalized_at', 'status_transitions__paid_at',
                         'status_transitions__voided_at', 'status_transitions__marked_uncollectible_at',
                         'canceled_at', 'ended_at'] -%}
            {%- if name in present -%}{%- do events.append(name) -%}{%- endif -%}
        {%- endfor -%}
        {%- if 'created' not in present -%}{{ return('true') }}{%- endif -%}
        {%- set stamps = [prefix ~ 'created'] -%}
        {%- for name in events -%}
            {%- do stamps.append('coalesce(' ~ prefix ~ name ~ ', ' ~ prefix ~ 'created)') -%}
        {%- endfor -%}
        {%- set latest = stamps[0] if stamps | length == 1 else 'greatest(' ~ stamps | join(', ') ~ ')' -%}
        {{ return(epoch_to_timestamp(latest) ~ ' <= ' ~ bound) }}
    {%- endif -%}
    {%- set candidates = {
        'crm': ['system_modstamp', 'last_modified_date', 'created_date'],
        'erp': ['lastmodifieddate', 'linelastmodifieddate', 'datecreated'],
    }[vendor] -%}
    {%- for name in candidates -%}
        {%- if name in present -%}
            {{ return(to_utc(prefix ~ name) ~ ' <= ' ~ bound) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return('true') }}
{%- endmacro %}
