-- Channels as other tools name them (docs/contracts.md#touchpoints-and-channels, docs/attribution.md#channels).
-- Before: a touch whose channel was not in analytics.known_channels was quarantined and dropped from its
-- path, so its credit moved silently to the other touches. Now a touch keeps its channel: the label is
-- normalised (analytics.normalise_channel) and mapped to a canonical channel group through
-- analytics.channel_map (editable per organization); a label that maps to nothing stays as its normalised
-- self (listed in analytics.unmapped_channels); a touch without a label gets one derived from its source,
-- medium and click ids (analytics.derive_channel), else 'unassigned'.

-- The canonical channel groups, modelled on Google Analytics 4's default channel groups.
CREATE TABLE analytics.channel_groups (
    channel_group text PRIMARY KEY,
    description   text NOT NULL
);
INSERT INTO analytics.channel_groups (channel_group, description) VALUES
    ('paid_search', 'ads on search engines (Google Ads search, Microsoft Advertising)'),
    ('paid_social', 'ads on social networks (Meta, TikTok, LinkedIn, X, Pinterest)'),
    ('paid_video', 'video ads (YouTube, in-stream)'),
    ('display', 'display and banner ads'),
    ('paid_shopping', 'shopping / product listing ads'),
    ('organic_search', 'unpaid search results'),
    ('organic_social', 'unpaid posts and links on social networks'),
    ('organic_video', 'unpaid video platforms'),
    ('email', 'email campaigns and newsletters'),
    ('sms', 'SMS and messaging apps'),
    ('affiliates', 'affiliates and partners'),
    ('referral', 'links from other sites'),
    ('direct', 'typed URL, bookmark, no referrer'),
    ('audio', 'audio ads and podcasts'),
    ('mobile_push', 'mobile push notifications'),
    ('cross_network', 'campaigns running across networks (Performance Max, Advantage+)'),
    ('unassigned', 'no rule matched: the touch carried no channel, source, medium or click id');

-- trim, case-fold, runs of spaces and dashes to one '_': 'Paid Social', 'paid-social', ' PAID_SOCIAL ' are one.
CREATE FUNCTION analytics.normalise_channel(label text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT nullif(regexp_replace(lower(btrim(label, E' \t\r\n')), '[[:space:]-]+', '_', 'g'), '')
$$;

-- Aliases (normalised labels) -> channel group. organization_id NULL: the default for every organization;
-- a row with an organization_id overrides the default alias for that organization only.
CREATE TABLE analytics.channel_map (
    organization_id uuid REFERENCES organizations (id) ON DELETE CASCADE,
    alias           text NOT NULL CHECK (alias = analytics.normalise_channel(alias)),
    channel_group   text NOT NULL REFERENCES analytics.channel_groups (channel_group),
    CONSTRAINT channel_map_alias_once UNIQUE NULLS NOT DISTINCT (organization_id, alias)
);
INSERT INTO analytics.channel_map (alias, channel_group)
SELECT channel_group, channel_group FROM analytics.channel_groups
UNION ALL VALUES
    -- spellings of GA4, Snowplow and ChannelAttribution-style tools
    ('paid_search_other', 'paid_search'), ('paid_social_other', 'paid_social'), ('paid_video_other', 'paid_video'),
    ('display_other', 'display'), ('paid_shopping_other', 'paid_shopping'), ('shopping', 'paid_shopping'),
    ('mobile_push_notifications', 'mobile_push'), ('push', 'mobile_push'), ('push_notification', 'mobile_push'),
    ('affiliate', 'affiliates'), ('referrals', 'referral'), ('organic', 'organic_search'), ('seo', 'organic_search'),
    ('social', 'organic_social'), ('video', 'paid_video'), ('youtube', 'paid_video'), ('podcast', 'audio'),
    ('direct_traffic', 'direct'), ('(direct)', 'direct'), ('e_mail', 'email'), ('newsletter', 'email'),
    ('text_message', 'sms'), ('whatsapp', 'sms'), ('(not_set)', 'unassigned'), ('(none)', 'unassigned'),
    ('unknown', 'unassigned'),
    -- the platform names this project's earlier versions accepted as channels
    ('meta', 'paid_social'), ('facebook', 'paid_social'), ('fb', 'paid_social'), ('instagram', 'paid_social'),
    ('ig', 'paid_social'), ('tiktok', 'paid_social'), ('linkedin', 'paid_social'), ('twitter', 'paid_social'),
    ('x', 'paid_social'), ('google', 'paid_search'), ('adwords', 'paid_search'), ('gads', 'paid_search'),
    ('google_ads', 'paid_search'), ('bing', 'paid_search'), ('cpc', 'paid_search'), ('ppc', 'paid_search'),
    ('sem', 'paid_search');

-- The channel group of a normalised label: the organization's own alias first, then the default one; NULL when
-- neither maps it. The two jsonb arguments are analytics.channel_map folded into objects once per refresh.
CREATE FUNCTION analytics.channel_group_of(label text, organization_aliases jsonb, default_aliases jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(organization_aliases ->> label, default_aliases ->> label)
$$;

-- The channel of a touch that names none, from its source, medium and click ids (docs/attribution.md#channels):
-- a click id first (gclid -> paid_search, fbclid -> paid_social), then the medium, then a well-known source.
-- NULL when nothing fits: the caller then tries the source as a channel label, else 'unassigned'.
CREATE FUNCTION analytics.derive_channel(source text, medium text, gclid text, fbclid text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN nullif(btrim(gclid), '') IS NOT NULL THEN 'paid_search'
        WHEN nullif(btrim(fbclid), '') IS NOT NULL THEN 'paid_social'
        WHEN m IN ('paid_social', 'paidsocial', 'social_paid', 'social_ads') THEN 'paid_social'
        WHEN m IN ('paid_video', 'cpv') THEN 'paid_video'
        WHEN m IN ('paid_shopping', 'shopping') THEN 'paid_shopping'
        WHEN m IN ('display', 'banner', 'cpm', 'expandable', 'interstitial') THEN 'display'
        WHEN m IN ('cpc', 'ppc', 'paid', 'paidsearch', 'paid_search', 'sem', 'retargeting') THEN
            CASE WHEN s.kind = 'social' THEN 'paid_social' WHEN s.kind = 'video' THEN 'paid_video'
                 ELSE 'paid_search' END
        WHEN m IN ('email', 'e_mail', 'newsletter') THEN 'email'
        WHEN m IN ('sms', 'text', 'whatsapp') THEN 'sms'
        WHEN m IN ('affiliate', 'affiliates', 'partner') THEN 'affiliates'
        WHEN m IN ('referral', 'link') THEN 'referral'
        WHEN m IN ('audio', 'podcast') THEN 'audio'
        WHEN m IN ('push', 'mobile', 'notification', 'mobile_push') THEN 'mobile_push'
        WHEN m = 'cross_network' THEN 'cross_network'
        WHEN m = 'organic' THEN
            CASE WHEN s.kind = 'social' THEN 'organic_social' WHEN s.kind = 'video' THEN 'organic_video'
                 ELSE 'organic_search' END
        WHEN m IN ('social', 'social_network', 'social_media', 'sm') THEN 'organic_social'
        WHEN m = 'video' THEN 'organic_video'
        WHEN m IN ('(none)', 'none', 'direct') OR s.name IN ('(direct)', 'direct') THEN 'direct'
        WHEN m IS NULL AND s.kind = 'social' THEN 'organic_social'
        WHEN m IS NULL AND s.kind = 'video' THEN 'organic_video'
        WHEN m IS NULL AND s.kind = 'search' THEN 'organic_search'
    END
    FROM (SELECT analytics.normalise_channel(medium) AS m) AS med,
    LATERAL (
        SELECT n AS name,
               CASE WHEN n IN ('facebook', 'fb', 'instagram', 'ig', 'meta', 'linkedin', 'lnkd.in', 'twitter', 'x',
                               't.co', 'tiktok', 'pinterest', 'snapchat', 'reddit', 'threads') THEN 'social'
                    WHEN n IN ('youtube', 'vimeo', 'twitch') THEN 'video'
                    WHEN n IN ('google', 'bing', 'yahoo', 'duckduckgo', 'baidu', 'yandex', 'ecosia', 'adwords',
                               'gads') THEN 'search'
               END AS kind
        FROM (SELECT analytics.normalise_channel(source) AS n) AS src
    ) AS s
$$;

-- Labels that map to no channel group, per organization, with the touches carrying them in the credits
-- (rebuilt by every attribution_credits refresh). Add an alias to analytics.channel_map to map one.
CREATE TABLE analytics.unmapped_channels (
    organization_id uuid NOT NULL,
    channel         text NOT NULL,
    touches         bigint NOT NULL,
    refreshed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, channel)
);

-- The label as the CRM sent it, beside the channel group (NULL: the touch named no channel).
ALTER TABLE analytics.attribution_touch_credits
    ADD COLUMN channel_raw text,
    -- how many of the lead's in-window CRM touches this credited touch stands for (collapsed repeats
    -- included; 0 for the touch made of the lead's own fields): the touches-in-vs-out check sums it.
    ADD COLUMN touches int;

CREATE OR REPLACE VIEW analytics.attribution_credits AS
SELECT c.organization_id, c.lead_id, c.touch_index, c.channel, c.campaign_id, c.ad_id,
       m.model, m.credit, m.revenue_credit, c.channel_raw
FROM analytics.attribution_touch_credits AS c
CROSS JOIN LATERAL (VALUES
    ('first_touch'::text, c.first_touch, c.first_touch_revenue),
    ('last_touch', c.last_touch, c.last_touch_revenue),
    ('linear', c.linear, c.linear_revenue),
    ('position_based', c.position_based, c.position_based_revenue),
    ('time_decay', c.time_decay, c.time_decay_revenue)
) AS m (model, credit, revenue_credit)
WHERE m.credit IS NOT NULL;

-- The fixed list and its aliases are replaced by the map above.
DROP TABLE analytics.channel_aliases;
DROP TABLE analytics.known_channels;

-- Touches quarantined for their label were stripped from lead_attribution.touchpoints: the next refresh
-- rebuilds every lead (and so every credit) to bring them back.
DELETE FROM quarantine WHERE stage = 'lead_attribution' AND reason LIKE 'unknown channel%';
DELETE FROM analytics.attribution_state WHERE name = 'lead_attribution';
