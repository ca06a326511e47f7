/* confd shim: empty translation unit for the link_whole placeholder library. */
typedef int confd_shim_empty_translation_unit;
