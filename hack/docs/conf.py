# Sphinx configuration of the collection's documentation site, used by hack/build-docs (`make docs`).
# The same extensions and theme as the Ansible documentation (what `antsibull-docs sphinx-init` writes), plus
# MyST for the Markdown guides of docs/. No intersphinx: the build reaches no server.

project = 'oomguard.fleet'
copyright = 'oomguard contributors'
title = 'oomguard.fleet documentation'
html_short_title = 'oomguard.fleet'
html_title = 'oomguard.fleet documentation'

extensions = ['sphinx_antsibull_ext', 'myst_parser']

source_suffix = {'.rst': 'restructuredtext', '.md': 'markdown'}
root_doc = 'index'

pygments_style = 'ansible'
highlight_language = 'YAML+Jinja'

html_theme = 'sphinx_ansible_theme'
html_show_sphinx = False
display_version = False
html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False
# The top bar links the collection's own places (galaxy.yml's repository and issues), not the Ansible blog.
html_theme_options = {
    'topbar_links': {
        'Repository': 'https://github.com/oomguard/fleet',
        'Issues': 'https://github.com/oomguard/fleet/issues',
        'Ansible documentation': 'https://docs.ansible.com/',
    },
}

# Markdown: GitHub's heading anchors (the guides link to #sections of each other), tables and
# `Title <link>`-free plain links.
myst_heading_anchors = 4
myst_enable_extensions = ['colon_fence']

default_role = 'any'
nitpicky = True

# The generated module pages link two pages of the Ansible documentation by label, which intersphinx would
# resolve by downloading its inventory: these links are resolved here instead, to the same pages.
ANSIBLE_DOCS = 'https://docs.ansible.com/projects/ansible/latest/'
EXTERNAL_LABELS = {
    'common_return_values': ('reference_appendices/common_return_values.html', 'Common return values'),
    'ansible_configuration_settings': ('reference_appendices/config.html', 'Ansible configuration settings'),
}


def _external_label(app, env, node, contnode):
    from docutils import nodes

    if node.get('reftype') != 'ref' or node.get('reftarget') not in EXTERNAL_LABELS:
        return None
    path, title = EXTERNAL_LABELS[node['reftarget']]
    reference = nodes.reference('', '', internal=False, refuri=ANSIBLE_DOCS + path)
    if node.get('refexplicit'):
        reference += contnode
    else:
        reference += nodes.inline(title, title)
    return reference


def setup(app):
    from pygments.lexers.javascript import JavascriptLexer

    # docs/audit.md shows abridged, commented JSON as `jsonc` (// comments, `...`), unknown to Pygments; its
    # JavaScript lexer reads both.
    app.add_lexer('jsonc', JavascriptLexer)
    app.connect('missing-reference', _external_label)
