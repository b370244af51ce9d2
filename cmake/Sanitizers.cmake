# One sanitizer configuration per build tree, applied to everything in it so
# that the library, the helpers and the tests agree on the runtime.
if(SQLSTEWARD_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
elseif(SQLSTEWARD_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(NOT SQLSTEWARD_SANITIZE STREQUAL "")
  message(FATAL_ERROR "SQLSTEWARD_SANITIZE must be '', 'address' or 'thread'")
endif()
